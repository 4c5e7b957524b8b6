"""Extraction: the endpoint registry, then each API flavour's reading (v1/, platform/) and rejected rows."""
