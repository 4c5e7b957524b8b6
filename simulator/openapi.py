"""The OpenAPI 3 document the simulator serves at /openapi.json."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pixee REST API v1 (simulator)", "version": "1"},
        "paths": {},
    }
