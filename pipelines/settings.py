"""Run settings: a named profile from profiles/, overridden by PIXEE_* environment, then by flags.

Every setting is read here, one reader per profile section, so the precedence (flag > environment
> profile > default) is written once for all of them; the URL and token checks are in
pipelines.settings_checks.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipelines.errors import ConfigError
from pipelines.settings_checks import API_PATH as API_PATH
from pipelines.settings_checks import check_token, server_base_url
from pipelines.settings_checks import validate_base_url as validate_base_url

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROFILES_DIR = REPO_ROOT / "profiles"
DEFAULT_BASE_URL = "https://app.pixee.ai/api/v1"
DEFAULT_PROFILE = "duckdb"
FLAVOURS = ("auto", "v1", "platform")

# requests per minute, burst: the documented tiers (api-contract.md, "Rate limits").
TIERS: Mapping[str, tuple[float, int]] = MappingProxyType({"standard": (60.0, 10), "enterprise": (300.0, 50)})
DEFAULT_SLA_DAYS: Mapping[str, int] = MappingProxyType({"critical": 7, "high": 30, "medium": 90, "low": 180})
# Keys that would put a secret into a file in git; secrets come from the environment only.
# [destination] keys that configure the DuckDB files; the rest are Snowflake's.
DUCKDB_KEYS = ("kind", "duckdb_path", "serving_path", "storage_version")
_SECRET_KEYS = {"token", "password", "private_key", "private_key_passphrase", "secret"}


class Secret:
    """A string that never prints itself: repr, str and f-strings show '***'."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything one run needs; built by load_settings, never mutated (use dataclasses.replace)."""

    profile: str = DEFAULT_PROFILE
    # The file a `--profile path/to/mine.toml` named (absolute): what deployments pass on, since
    # `profile` is then only its stem.
    profile_file: Path | None = None
    base_url: str = DEFAULT_BASE_URL
    token: Secret | None = None
    tier: str = "standard"
    # "auto" reads the API's root once to tell the platform (HAL) API from the v1 one
    # (pipelines.api.flavour); "v1" or "platform" skip or insist on that.
    api_flavour: str = "auto"
    # A private CA (PIXEE_CA_BUNDLE, else SSL_CERT_FILE) trusted on top of the usual ones.
    ca_bundle: Path | None = None
    requests_per_minute: float = TIERS["standard"][0]
    burst: int = TIERS["standard"][1]
    destination: str = "duckdb"  # "duckdb" or "snowflake"
    duckdb_path: Path = Path("pixee_warehouse.duckdb")  # the working file, which dlt loads
    # The read-only copy readers open (None: beside the working file, see pipelines.publish.serving), and the
    # DuckDB storage version it is written in: v1.1.0 files open in DuckDB 1.1 and every later release.
    serving_path: Path | None = None
    storage_version: str = "v1.1.0"
    # Non-secret Snowflake settings from the profile: account, database, warehouse, role, user...
    snowflake: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    pipeline_name: str = "pixee"
    dataset: str = "pixee"
    marts_dataset: str = "pixee_marts"
    sla_days: Mapping[str, int] = field(default_factory=lambda: DEFAULT_SLA_DAYS)
    details: bool = False
    lag_seconds: int = 300  # incremental look-back: updated_at may lag visibility by seconds
    max_retry_after_seconds: float = 900.0  # a longer Retry-After ends the run, progress kept
    # All of a run's rate-limit waits (429, 503 Retry-After) together: past this the run ends,
    # progress kept, rather than hold the destination's lock through an hourly schedule.
    max_rate_limit_wait_seconds: float = 1800.0
    # One request, connect to last byte: a body that trickles is cut off and retried.
    request_deadline_seconds: float = 120.0
    concurrency: int = 8  # repositories read at once, all inside the one token bucket
    batch_repositories: int = 10  # repositories per dlt load: a kill loses at most one such batch
    # Requests a kill may cost at most, however the organisation is shaped: a batch commits
    # within a repository too, every quarter of this. None = one minute at requests_per_minute.
    checkpoint_requests: int | None = None
    # Webhook change capture (profile [events]): plan runs from the receiver's journal, and
    # poll every list (reconcile) at least this often or when events may have been missed.
    events_enabled: bool = False
    events_journal: Path = Path("pixee_events.sqlite")
    # "journal": runs read the receiver's journal file (the receiver runs where the runs do);
    # "warehouse": the receiver forwards events to the warehouse (`receive --forward-seconds`),
    # so runs on any worker plan from there (Snowflake under a Prefect work pool).
    events_source: str = "journal"
    reconcile_hours: float = 24.0
    # Pixee's retry schedule (30 s + 2 min + 10 min + 1 h) plus slack: a receiver down, or silent,
    # for longer may have lost events for good.
    events_missed_after_seconds: float = 4500.0
    # Prefect schedules: cron strings and the timezone they are read in.
    schedule: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {"incremental_cron": "0 * * * *", "full_cron": "0 3 * * 0", "timezone": "UTC"}
        )
    )

    def require_token(self) -> Secret:
        if not self.token:
            raise ConfigError("PIXEE_TOKEN is not set; export it (it is never read from a flag)")
        check_token(self.token.reveal())
        return self.token


def profiles_dir() -> Path:
    return Path(os.environ.get("PIXEE_PROFILES_DIR", DEFAULT_PROFILES_DIR))


def profile_path(name: str) -> Path | None:
    """The file a `--profile` value that is a path names (`mine.toml`, `conf/mine`), else None: a
    user's own profile need not live in the checkout."""
    if name.endswith(".toml") or "/" in name or os.sep in name:
        return Path(name).expanduser()
    return None


def profile_label(name: str) -> str:
    """What names a profile in file names, deployments and artifacts: the file's stem for a path."""
    path = profile_path(name)
    return path.stem if path is not None else name


def read_profile(name: str) -> dict[str, Any]:
    """The profile file as a dict; ConfigError for an unknown name, bad TOML or a secret in it."""
    directory = profiles_dir()
    path = profile_path(name)
    if path is not None and not path.is_file():
        raise ConfigError(f"profile file {path} does not exist")
    path = path or directory / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.toml"))
        raise ConfigError(
            f"unknown profile {name!r}; known profiles in {directory} (PIXEE_PROFILES_DIR): "
            f"{', '.join(known) or 'none'}; or give a path to a .toml file"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile {path} is not valid TOML: {exc}") from None
    _refuse_secrets(data, str(path))
    return data


def _refuse_secrets(data: Mapping[str, Any], where: str) -> None:
    for key, value in data.items():
        if key.lower() in _SECRET_KEYS:
            raise ConfigError(f"{where} sets {key!r}: secrets come from the environment only")
        if isinstance(value, Mapping):
            _refuse_secrets(value, where)


def _checkpoint_requests(env: Mapping[str, str], run: Mapping[str, Any]) -> int | None:
    value = _number(env, "PIXEE_CHECKPOINT_REQUESTS", int) or run.get("checkpoint_requests")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"checkpoint_requests = {value!r} must be a whole number of requests >= 1")
    return value


def _number(env: Mapping[str, str], name: str, kind: type[float] | type[int]) -> float | int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


def _positive(section: Mapping[str, Any], key: str, default: float, profile: str) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"profile {profile!r}: [run] {key} = {value!r} is not a positive number")
    return float(value)


def _base_url(env: Mapping[str, str], api: Mapping[str, Any]) -> tuple[str, str]:
    """(URL, the setting it came from). The environment wins over the profile; within each, a
    base URL wins over a server: PIXEE_BASE_URL names the API itself (any path, e.g. behind a
    proxy), PIXEE_SERVER only the deployment it is under, so the more exact one is taken."""
    for value, variable in (
        (env.get("PIXEE_BASE_URL"), "PIXEE_BASE_URL"),
        (env.get("PIXEE_SERVER"), "PIXEE_SERVER"),
        (api.get("base_url"), "[api] base_url"),
        (api.get("server"), "[api] server"),
    ):
        if value:
            return str(value), variable
    return DEFAULT_BASE_URL, "PIXEE_BASE_URL"


def _ca_bundle(env: Mapping[str, str]) -> Path | None:
    """The private CA file to trust, checked now so a bad one is a line naming it, not a TLS
    failure later: PIXEE_CA_BUNDLE, else the standard SSL_CERT_FILE."""
    from pipelines.api.tls import check_bundle  # ssl and certifi only when a bundle is set

    for variable in ("PIXEE_CA_BUNDLE", "SSL_CERT_FILE"):
        value = env.get(variable)
        if value:
            path = Path(value).expanduser()
            check_bundle(path, variable)
            return path
    return None


def _events_source(profile: str, value: Any) -> str:
    if value not in ("journal", "warehouse"):
        raise ConfigError(f"profile {profile!r}: events.source = {value!r} is not journal or warehouse")
    return str(value)


def _rate(env: Mapping[str, str], api: Mapping[str, Any]) -> dict[str, Any]:
    """The tier and the token bucket it sets, each part overridable."""
    tier = str(env.get("PIXEE_TIER") or api.get("tier", "standard"))
    if tier not in TIERS:
        raise ConfigError(f"tier {tier!r} is unknown; use one of {', '.join(TIERS)}")
    rpm, burst = TIERS[tier]
    rpm = float(api.get("requests_per_minute", rpm))
    burst = int(api.get("burst", burst))
    return {
        "tier": tier,
        "requests_per_minute": _number(env, "PIXEE_REQUESTS_PER_MINUTE", float) or rpm,
        "burst": int(_number(env, "PIXEE_BURST", int) or burst),
    }


def _api(env: Mapping[str, str], api: Mapping[str, Any]) -> dict[str, Any]:
    """Where the API is, how it is reached and who asks: [api] and the environment."""
    fields = _rate(env, api)
    token = env.get("PIXEE_TOKEN")
    if token:
        check_token(token)
    base_url, variable = _base_url(env, api)
    is_server = variable in ("PIXEE_SERVER", "[api] server")
    if token and len(token) >= 8 and token in base_url:
        # Checked before the URL is echoed in any message: the token must never be printed.
        raise ConfigError(f"{variable} contains the value of PIXEE_TOKEN; the token goes in PIXEE_TOKEN only")
    base_url = (server_base_url if is_server else validate_base_url)(base_url, variable)
    flavour = str(env.get("PIXEE_API_FLAVOUR") or api.get("flavour", "auto")).strip().lower()
    if flavour not in FLAVOURS:
        raise ConfigError(
            f"api flavour {flavour!r} (PIXEE_API_FLAVOUR or [api] flavour) is not one of "
            + ", ".join(FLAVOURS)
        )
    return {
        **fields,
        "base_url": validate_base_url(base_url),
        "token": Secret(token) if token else None,
        "api_flavour": flavour,
    }


def _destination(profile: str, dest: Mapping[str, Any], datasets: Mapping[str, Any]) -> dict[str, Any]:
    """The warehouse: [destination] (DuckDB's files or Snowflake's account) and [datasets]."""
    kind = str(dest.get("kind", "duckdb"))
    if kind not in ("duckdb", "snowflake"):
        raise ConfigError(f"profile {profile!r}: destination kind {kind!r} is not duckdb or snowflake")
    return {
        "destination": kind,
        "duckdb_path": Path(dest.get("duckdb_path", "pixee_warehouse.duckdb")),
        "serving_path": Path(dest["serving_path"]) if dest.get("serving_path") else None,
        "storage_version": str(dest.get("storage_version", "v1.1.0")),
        "snowflake": MappingProxyType({k: str(v) for k, v in dest.items() if k not in DUCKDB_KEYS}),
        "dataset": str(datasets.get("raw", "pixee")),
        "marts_dataset": str(datasets.get("marts", "pixee_marts")),
    }


def _sla_days(profile: str, given: Mapping[str, Any]) -> Mapping[str, int]:
    sla = dict(DEFAULT_SLA_DAYS)
    for severity, days in given.items():
        if severity not in sla or not isinstance(days, int) or days < 0:
            raise ConfigError(f"profile {profile!r}: sla_days.{severity} = {days!r} is not valid")
        sla[severity] = days
    return MappingProxyType(sla)


def _run(profile: str, env: Mapping[str, str], run: Mapping[str, Any]) -> dict[str, Any]:
    """How a sync paces itself and how much a kill may cost: [run] and the environment."""
    return {
        "pipeline_name": str(run.get("pipeline_name", "pixee")),
        "details": bool(run.get("details", False)),
        "lag_seconds": int(run.get("lag_seconds", 300)),
        "max_retry_after_seconds": float(run.get("max_retry_after_seconds", 900)),
        "max_rate_limit_wait_seconds": float(
            _number(env, "PIXEE_MAX_RATE_LIMIT_WAIT_SECONDS", float)
            or _positive(run, "max_rate_limit_wait_seconds", 1800.0, profile)
        ),
        "request_deadline_seconds": float(
            _number(env, "PIXEE_REQUEST_DEADLINE_SECONDS", float)
            or _positive(run, "request_deadline_seconds", 120.0, profile)
        ),
        "concurrency": int(run.get("concurrency", 8)),
        "batch_repositories": int(
            _number(env, "PIXEE_BATCH_REPOSITORIES", int) or run.get("batch_repositories", 10)
        ),
        "checkpoint_requests": _checkpoint_requests(env, run),
    }


def _events(profile: str, events: Mapping[str, Any]) -> dict[str, Any]:
    """Webhook change capture: [events]."""
    return {
        "events_enabled": bool(events.get("enabled", False)),
        "events_journal": Path(events.get("journal", "pixee_events.sqlite")),
        "events_source": _events_source(profile, events.get("source", "journal")),
        "reconcile_hours": float(events.get("reconcile_hours", 24.0)),
        "events_missed_after_seconds": float(events.get("missed_after_seconds", 4500.0)),
    }


def _flags(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """The settings with the flags given (None = unset) put over them."""
    given = {k: v for k, v in overrides.items() if v is not None}
    for name in ("duckdb_path", "serving_path"):
        if name in given:
            given[name] = Path(given[name])
    if "base_url" in given:
        given["base_url"] = validate_base_url(given["base_url"])
    return replace(settings, **given)


def load_settings(
    profile: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Profile file, then PIXEE_* environment, then keyword overrides (from flags; None = unset)."""
    env = os.environ if env is None else env
    name = profile or env.get("PIXEE_PROFILE") or DEFAULT_PROFILE
    data = read_profile(name)
    api = _api(env, data.get("api", {}))
    destination = _destination(name, data.get("destination", {}), data.get("datasets", {}))
    sla_days = _sla_days(name, data.get("sla_days", {}))
    schedule = {**Settings().schedule, **{k: str(v) for k, v in data.get("schedule", {}).items()}}
    own_file = profile_path(name)
    settings = Settings(
        profile=profile_label(name),
        profile_file=own_file.resolve() if own_file is not None else None,
        **api,
        ca_bundle=_ca_bundle(env),
        **destination,
        sla_days=sla_days,
        **_run(name, env, data.get("run", {})),
        schedule=MappingProxyType(schedule),
        **_events(name, data.get("events", {})),
    )
    return _flags(settings, overrides)
