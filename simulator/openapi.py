"""The OpenAPI 3.1 document the simulator serves at /openapi.json: every route it answers, every field."""

from __future__ import annotations

from typing import Any

from simulator import catalog

STR = {"type": "string"}
TS = {"type": "string", "format": "date-time", "description": "ISO 8601 UTC with Z, with or without fraction"}
TS_NULL = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}


def _enum(*values: str, nullable: bool = False) -> dict[str, Any]:
    return {
        "type": ["string", "null"] if nullable else "string",
        "enum": [*values, *([None] if nullable else [])],
    }


def _obj(props: dict[str, Any], required: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(props)
    return out


SETTINGS = _obj({"auto_fix": BOOL, "triage": BOOL, "max_open_prs": INT})
REPOSITORY = _obj(
    {
        "id": STR,
        "name": STR,
        "full_name": STR,
        "scm": _enum(*catalog.SCMS),
        "default_branch": STR,
        "language": _enum(*catalog.LANGUAGE_WEIGHTS),
        "enabled": BOOL,
        "settings": SETTINGS,
        "last_scan_at": TS_NULL,
        "created_at": TS,
        "updated_at": TS,
    }
)
TOOLS = (
    "codeql",
    "semgrep",
    "sonar",
    "snyk",
    "checkmarx",
    "veracode",
    "trivy",
    "appscan",
    "fortify",
    "contrast",
    "defectdojo",
    "datadog_sast",
)
SCAN = _obj(
    {
        "id": STR,
        "repository_id": STR,
        "state": _enum("queued", "running", "completed", "failed"),
        "trigger": _enum("schedule", "webhook", "api", "sarif_upload"),
        "detection_tool": _enum(*TOOLS),
        "branch": STR,
        "commit_sha": STR,
        "findings_count": INT,
        "fixes_generated": INT,
        "started_at": TS_NULL,
        "completed_at": TS_NULL,
        "duration_seconds": {"type": ["integer", "null"]},
        "created_at": TS,
        "updated_at": TS,
    }
)
FINDING = _obj(
    {
        "id": STR,
        "repository_id": STR,
        "scan_id": STR,
        "rule_id": STR,
        "detection_tool": _enum(*TOOLS),
        "title": STR,
        "severity": _enum(*catalog.SEVERITIES),
        "cwe": {"type": ["string", "null"]},
        "path": STR,
        "start_line": INT,
        "triage_status": _enum("pending", "completed"),
        "classification": _enum(*catalog.CLASSIFICATIONS, nullable=True),
        "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "status": _enum("open", "fixed", "dismissed"),
        "detected_at": TS,
        "triaged_at": TS_NULL,
        "resolved_at": TS_NULL,
        "created_at": TS,
        "updated_at": TS,
    }
)
FIX = _obj(
    {
        "id": STR,
        "repository_id": STR,
        "finding_ids": {"type": "array", "items": STR},
        "codemod": STR,
        "detection_tool": _enum(*TOOLS),
        "summary": STR,
        "ai_generated": BOOL,
        "files_changed": INT,
        "status": _enum("generated", "pr_open", "merged", "closed"),
        "pr_url": {"type": ["string", "null"]},
        "pr_number": {"type": ["integer", "null"]},
        "pr_opened_at": TS_NULL,
        "merged_at": TS_NULL,
        "closed_at": TS_NULL,
        "created_at": TS,
        "updated_at": TS,
    }
)
WEBHOOK = _obj(
    {
        "id": STR,
        "url": STR,
        "events": {"type": "array", "items": STR},
        "active": BOOL,
        "created_at": TS,
        "updated_at": TS,
    }
)
FIX_DETAIL = {
    "allOf": [
        {"$ref": "#/components/schemas/Fix"},
        _obj(
            {
                "diff": STR,
                "rationale": STR,
                "quality": _obj({"safety": INT, "effectiveness": INT, "cleanliness": INT}),
            }
        ),
    ]
}
FINDING_DETAIL = {
    "allOf": [{"$ref": "#/components/schemas/Finding"}, _obj({"justification": {"type": ["string", "null"]}})]
}
ERROR = _obj({"error": _obj({"code": STR, "message": STR, "request_id": STR})})


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(item: str) -> dict[str, Any]:
    return {
        "oneOf": [
            _obj(
                {
                    "data": {"type": "array", "items": _ref(item)},
                    "pagination": _obj({"next_cursor": {"type": ["string", "null"]}, "has_more": BOOL}),
                }
            ),
            _obj(
                {
                    "_embedded": _obj({"items": {"type": "array", "items": _ref(item)}}),
                    "_links": {"type": "object"},
                    "page": INT,
                    "total": INT,
                },
                required=False,
            ),
        ]
    }


ERRORS = {
    str(code): _json(_ref("Error"), text)
    for code, text in (
        (400, "bad_request or invalid_cursor"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (429, "rate_limited; see Retry-After"),
        (500, "internal_error"),
    )
}
ID = {"name": "id", "in": "path", "required": True, "schema": STR}
LIST_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
    },
    {"name": "cursor", "in": "query", "schema": STR, "description": "opaque; from pagination.next_cursor"},
]
SINCE = {
    "name": "updated_since",
    "in": "query",
    "schema": TS,
    "description": "only items with updated_at >= it",
}


def _list(item: str, summary: str, incremental: bool, with_id: bool) -> dict[str, Any]:
    params = ([ID] if with_id else []) + LIST_PARAMS + ([SINCE] if incremental else [])
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": _json(_page(item), "a page ordered by (updated_at, id)"), **ERRORS},
        }
    }


def openapi_document() -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pixee REST API v1 (pixee-etl simulator)",
            "version": "1",
            "description": "Served by the simulator; /_sim/* routes are its control plane, not the API.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Repository": REPOSITORY,
                "Scan": SCAN,
                "Finding": FINDING,
                "Fix": FIX,
                "Webhook": WEBHOOK,
                "FixDetail": FIX_DETAIL,
                "FindingDetail": FINDING_DETAIL,
                "Error": ERROR,
            },
        },
        "paths": {
            "/repositories": _list("Repository", "List repositories", True, False),
            "/repositories/{id}": {
                "get": {
                    "summary": "Get a repository",
                    "parameters": [ID],
                    "responses": {"200": _json(_ref("Repository"), "the repository"), **ERRORS},
                },
                "patch": {
                    "summary": "Change name, default_branch, enabled or settings",
                    "parameters": [ID],
                    "requestBody": body,
                    "responses": {"200": _json(_ref("Repository"), "the changed repository"), **ERRORS},
                },
            },
            "/repositories/{id}/scans": {
                **_list("Scan", "List a repository's scans", True, True),
                "post": {
                    "summary": "Start a scan",
                    "parameters": [ID],
                    "responses": {"202": _json(_ref("Scan"), "the queued scan"), **ERRORS},
                },
            },
            "/repositories/{id}/findings": _list("Finding", "List a repository's findings", True, True),
            "/repositories/{id}/fixes": _list("Fix", "List a repository's fixes", True, True),
            "/repositories/{id}/sarif": {
                "post": {
                    "summary": "Upload SARIF 2.1.0 results",
                    "parameters": [ID],
                    "requestBody": body,
                    "responses": {
                        "202": _json(_obj({"scan_id": STR}), "accepted as a scan"),
                        "413": _json(_ref("Error"), "body over 10 MB"),
                        **ERRORS,
                    },
                }
            },
            "/fixes/{id}": {
                "get": {
                    "summary": "A fix with diff, rationale and quality",
                    "parameters": [ID],
                    "responses": {"200": _json(_ref("FixDetail"), "the fix"), **ERRORS},
                }
            },
            "/findings/{id}": {
                "get": {
                    "summary": "A finding with its triage justification",
                    "parameters": [ID],
                    "responses": {"200": _json(_ref("FindingDetail"), "the finding"), **ERRORS},
                }
            },
            "/webhooks": {
                **_list("Webhook", "List webhooks (organisation token only)", False, False),
                "post": {
                    "summary": "Create a webhook",
                    "requestBody": body,
                    "responses": {"201": _json(_ref("Webhook"), "the webhook"), **ERRORS},
                },
            },
            "/webhooks/{id}": {
                "delete": {
                    "summary": "Delete a webhook",
                    "parameters": [ID],
                    "responses": {"204": {"description": "deleted"}, **ERRORS},
                }
            },
        },
    }
