"""The platform flavour of the simulator: Pixee's HAL API of docs/platform.md."""
