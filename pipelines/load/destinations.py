"""The dlt destination and pipeline for a Settings: DuckDB file or Snowflake account."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dlt

from pipelines.errors import ConfigError
from pipelines.publish.serving import catalog_name, check_serving, reserved_catalogs
from pipelines.settings import Settings


def destination_for(settings: Settings) -> Any:
    """A dlt destination object; Snowflake credentials come from the environment, never a profile."""
    if settings.destination == "duckdb":
        path = settings.duckdb_path
        check_duckdb_path(path)
        # DuckDB names the catalog after the file name up to its first dot, so pixee.duckdb (or
        # pixee.prod.duckdb) holding schema pixee makes every `pixee.<table>` ambiguous, and dlt's
        # own load refuses it: dlt writes this file under this name, whatever the serving file is.
        catalog = catalog_name(path)
        if catalog in reserved_catalogs(settings):
            raise ConfigError(
                f"DuckDB file {path.name}: DuckDB would name its catalog {catalog!r}, like the schema "
                f"{catalog!r} in it, and make {catalog}.<table> ambiguous; pick another file name, "
                f"e.g. {path.with_name(f'{catalog}_warehouse.duckdb')}"
            )
        check_serving(settings)
        # Absolute: dlt remembers a relative path in the pipeline's working dir and keeps using
        # the first directory it was resolved in, whatever the current directory is later.
        return dlt.destinations.duckdb(str(path.resolve()))
    if settings.destination == "snowflake":
        # TIMESTAMP_TZ keeps the UTC offset the API sent; LTZ would render in each session's zone.
        return dlt.destinations.snowflake(credentials=snowflake_credentials(settings), use_timestamp_tz=True)
    raise ConfigError(f"unknown destination {settings.destination!r}")


def check_duckdb_path(path: Path) -> None:
    """ConfigError naming what is wrong when the DuckDB file cannot be created or written there.

    Checked before anything is written (the lock file beside it included), so a bad path leaves
    no trace; DuckDB's own error would come later, wrapped in a dlt traceback.
    """
    parent = path.parent
    if not parent.exists():
        raise ConfigError(f"DuckDB path {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ConfigError(f"DuckDB path {path}: {parent} is not a directory")
    if path.is_dir():
        raise ConfigError(
            f"DuckDB path {path} is a directory; give a file name, e.g. {path}/pixee_warehouse.duckdb"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(f"DuckDB path {path} is not writable by this user")


def destination_key(settings: Settings) -> str:
    """Names the destination (the DuckDB file, or the Snowflake account and database) and dataset,
    stably and with no secret in it: what two runs must not share at once."""
    if settings.destination == "duckdb":
        where = str(settings.duckdb_path.expanduser().resolve())
    else:
        where = "/".join(settings.snowflake.get(k, "") for k in ("account", "database"))
    digest = hashlib.sha256(f"{settings.destination}|{where}|{settings.dataset}".encode()).hexdigest()[:12]
    return f"pixee-etl-{settings.destination}-{digest}"


def make_pipeline(settings: Settings, *, pipelines_dir: str | None = None) -> dlt.Pipeline:
    """The one dlt pipeline for these settings; its state lives in the destination too.

    Its working directory is <pipelines_dir>/<destination_key>/<pipeline_name> (pipelines_dir
    defaults to dlt's, ~/.dlt/pipelines): runs into two destinations at once never share one
    (they used to, and the second crashed on the first's packages). The pipeline name, which keys
    the state dlt keeps in the warehouse, is unchanged, so a warehouse loaded from the old shared
    directory carries on incrementally: the new directory starts empty and sync_destination
    restores the state from the warehouse, as on a fresh machine.
    """
    from dlt.common.pipeline import get_dlt_pipelines_dir

    base = Path(pipelines_dir) if pipelines_dir else Path(get_dlt_pipelines_dir())
    return dlt.pipeline(
        pipeline_name=settings.pipeline_name,
        destination=destination_for(settings),
        dataset_name=settings.dataset,
        pipelines_dir=str(base / destination_key(settings)),
        progress=None,
    )


# Profile keys the Snowflake destination needs, and the dlt credential field each one fills.
SNOWFLAKE_REQUIRED = {"account": "host", "database": "database", "user": "username"}
SNOWFLAKE_OPTIONAL = {"warehouse": "warehouse", "role": "role", "authenticator": "authenticator"}
# Secrets: ours first, then dlt's own names (environment or .dlt/secrets.toml).
SNOWFLAKE_SECRETS = {
    "password": ("PIXEE_SNOWFLAKE_PASSWORD", "destination.snowflake.credentials.password"),
    "private_key": ("PIXEE_SNOWFLAKE_PRIVATE_KEY", "destination.snowflake.credentials.private_key"),
    "private_key_passphrase": (
        "PIXEE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "destination.snowflake.credentials.private_key_passphrase",
    ),
}


def _snowflake_secret(name: str, env: Mapping[str, str]) -> str | None:
    ours, dlt_key = SNOWFLAKE_SECRETS[name]
    if env.get(ours):
        return env[ours]
    # An explicit env (tests) is the whole world: there, dlt's name is read spelled the env way.
    value = dlt.secrets.get(dlt_key) if env is os.environ else env.get(dlt_key.upper().replace(".", "__"))
    return str(value) if value else None


def snowflake_credentials(settings: Settings, env: Mapping[str, str] | None = None) -> Any:
    """dlt SnowflakeCredentials from the profile's [destination] and secrets from the environment.

    The error for a missing secret names the variable to set, never a value.
    """
    from dlt.destinations.impl.snowflake.configuration import SnowflakeCredentials

    env = os.environ if env is None else env
    conf = settings.snowflake
    missing = [key for key in SNOWFLAKE_REQUIRED if not conf.get(key)]
    if missing:
        raise ConfigError(
            f"profile {settings.profile!r}: [destination] needs {', '.join(missing)} for Snowflake"
        )
    creds = SnowflakeCredentials()
    for key, field in {**SNOWFLAKE_REQUIRED, **SNOWFLAKE_OPTIONAL}.items():
        if conf.get(key):
            setattr(creds, field, conf[key])
    secrets = {name: _snowflake_secret(name, env) for name in SNOWFLAKE_SECRETS}
    if secrets["private_key"]:
        creds.private_key = secrets["private_key"]
        creds.private_key_passphrase = secrets["private_key_passphrase"]
    elif secrets["password"]:
        creds.password = secrets["password"]
    elif creds.authenticator in (None, "", "snowflake"):
        raise ConfigError(
            "Snowflake needs a secret: export PIXEE_SNOWFLAKE_PASSWORD or PIXEE_SNOWFLAKE_PRIVATE_KEY "
            "(or dlt's DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD); profiles never hold secrets"
        )
    creds.resolve()
    return creds
