"""The platform flavour: the HAL API of self-hosted deployments (paging, rows, source, sync, expiry)."""
