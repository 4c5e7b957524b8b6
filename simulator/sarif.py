"""SARIF 2.1.0 uploads: validates the fields the spec requires and turns results into finding specs."""

from __future__ import annotations

import json
import re
from typing import Any

from simulator import catalog
from simulator.catalog import Rule
from simulator.generator import Spec

MAX_BYTES = 10 * 1024 * 1024
TOOL_NAMES = (
    ("codeql", "codeql"),
    ("semgrep", "semgrep"),
    ("sonar", "sonar"),
    ("snyk", "snyk"),
    ("checkmarx", "checkmarx"),
    ("veracode", "veracode"),
    ("trivy", "trivy"),
    ("appscan", "appscan"),
    ("fortify", "fortify"),
    ("contrast", "contrast"),
    ("defectdojo", "defectdojo"),
    ("datadog", "datadog_sast"),
)
_CWE = re.compile(r"CWE-(\d+)", re.IGNORECASE)


class SarifError(ValueError):
    """The upload is not SARIF 2.1.0 we can use; the message names the field."""


def _require(obj: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise SarifError(f"SARIF document is missing required field {where}{key}")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SarifError(f"SARIF field {where}{key} must be a {_json_name(names)}")
    return value


def _json_name(py: str) -> str:
    return py.replace("dict", "object").replace("list", "array").replace("str", "string")


def _tool(name: str) -> str:
    lowered = name.lower()
    for needle, tool in TOOL_NAMES:
        if needle in lowered:
            return tool
    supported = ", ".join(t for _, t in TOOL_NAMES)
    raise SarifError(f"SARIF tool {name!r} is not a detection tool Pixee supports ({supported})")


def _severity(result: dict[str, Any], rule_props: dict[str, Any]) -> str:
    props = {**rule_props, **(result.get("properties") or {})}
    score = props.get("security-severity")
    try:
        value = float(score) if score is not None else None
    except (TypeError, ValueError):
        value = None
    if value is not None:
        return "critical" if value >= 9 else "high" if value >= 7 else "medium" if value >= 4 else "low"
    level = result.get("level", "warning")
    return {"error": "high", "warning": "medium"}.get(level, "low")


def parse(body: bytes, language: str) -> tuple[str, list[Spec]]:
    """The detection tool and one Spec per result, or SarifError naming what is wrong."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SarifError(f"SARIF body is not valid JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    if not isinstance(doc, dict):
        raise SarifError("SARIF document must be a JSON object")
    version = _require(doc, "version", "", str)
    if version != "2.1.0":
        raise SarifError(f"SARIF version must be 2.1.0, not {version!r}")
    runs = _require(doc, "runs", "", list)
    tool_name, specs = None, []
    known = {r.rule_id: r for r in catalog.RULES.get(language, ())}
    for i, run in enumerate(runs):
        where = f"runs[{i}]."
        if not isinstance(run, dict):
            raise SarifError(f"SARIF field runs[{i}] must be an object")
        tool = _require(run, "tool", where, dict)
        driver = _require(tool, "driver", f"{where}tool.", dict)
        name = _require(driver, "name", f"{where}tool.driver.", str)
        detection_tool = _tool(name)
        tool_name = tool_name or detection_tool
        rules_meta = {r.get("id"): r for r in driver.get("rules") or [] if isinstance(r, dict)}
        for j, result in enumerate(run.get("results") or []):
            rwhere = f"{where}results[{j}]."
            if not isinstance(result, dict):
                raise SarifError(f"SARIF field {where}results[{j}] must be an object")
            message = _require(result, "message", rwhere, dict)
            if "text" not in message and "id" not in message:
                raise SarifError(f"SARIF document is missing required field {rwhere}message.text")
            rule_id = result.get("ruleId") or (result.get("rule") or {}).get("id")
            if not isinstance(rule_id, str) or not rule_id:
                raise SarifError(f"SARIF document is missing required field {rwhere}ruleId")
            meta = rules_meta.get(rule_id) or {}
            rule = known.get(rule_id)
            if rule is None or rule.tool != detection_tool:
                text = str(message.get("text") or rule_id)
                tags = " ".join(map(str, (meta.get("properties") or {}).get("tags") or []))
                cwe = _CWE.search(tags)
                rule = Rule(
                    detection_tool,
                    rule_id,
                    (meta.get("shortDescription") or {}).get("text") or text[:120],
                    f"CWE-{cwe.group(1)}" if cwe else None,
                    "none",
                )
            location = ((result.get("locations") or [{}])[0] or {}).get("physicalLocation") or {}
            path = (location.get("artifactLocation") or {}).get("uri") or "unknown"
            line = (location.get("region") or {}).get("startLine") or 1
            specs.append(Spec(rule, _severity(result, meta.get("properties") or {}), str(path), int(line)))
    if tool_name is None:
        raise SarifError("SARIF document has no runs")
    return tool_name, specs
