"""What each measurement runs, each in a fresh child process so its peak memory and CPU are its own."""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.simproc import proc_status_kb
from pipelines.settings import REPO_ROOT

CONCURRENCY = (
    8  # the connector's default (profiles/duckdb.toml [run] concurrency); the ceiling and peer match it
)
UNLIMITED_RPM = 1e7  # "no rate limit" for the client's bucket: never the bottleneck


class MeasuredChildDied(RuntimeError):
    """The child process of one measurement ended without a result: how it ended is the message."""


def run_isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """fn(*args) in a new spawned process; its result plus that process's peak RSS and CPU time.

    A child that dies (a signal, a crash) is named with its exit code or signal, not a bare
    BrokenProcessPool; an exception in it comes back as that exception."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measured, args=(send, fn, *args), name=f"bench-{fn.__name__}")
    child.start()
    send.close()  # the child holds the only writer: EOF here means it is gone
    try:
        outcome = receive.recv()
    except EOFError:
        child.join()
        code = child.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        raise MeasuredChildDied(f"the measurement {fn.__name__} died without a result ({how})") from None
    finally:
        receive.close()
    child.join()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _measured(send: Any, fn: Callable[..., dict[str, Any]], *args: Any) -> None:
    faulthandler.enable()  # a crash in a native library prints its stack instead of vanishing
    try:
        result = _measure(fn, *args)
    except BaseException as exc:  # handed back to the parent, which raises it
        try:
            send.send(exc)
        except Exception:  # an exception that does not pickle still says what it was
            send.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    else:
        send.send(result)
    send.close()


def _measure(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    started = time.monotonic()
    result = fn(*args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.setdefault("wall_seconds", time.monotonic() - started)
    # VmHWM, not ru_maxrss: Linux carries the parent's high-water mark across fork and exec into
    # ru_maxrss, so a spawned child would report at least the bench parent's size.
    result["peak_rss_mb"] = proc_status_kb(os.getpid(), "VmHWM") / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def _settings(base_url: str, token: str, workdir: str, requests_per_minute: float, burst: int) -> Any:
    from pipelines.settings import Secret, Settings

    Path(workdir).mkdir(parents=True, exist_ok=True)
    return Settings(
        base_url=base_url,
        token=Secret(token),
        requests_per_minute=requests_per_minute,
        burst=burst,
        duckdb_path=Path(workdir) / "pixee_warehouse.duckdb",
        concurrency=CONCURRENCY,
    )


def our_sync(
    base_url: str,
    token: str,
    workdir: str,
    requests_per_minute: float,
    burst: int,
    full_refresh: bool,
    history: bool = True,
) -> dict[str, Any]:
    """pixee-etl's sync (pipelines.load.sync.sync) into DuckDB, sampled by the stack profiler."""
    from bench.sampler import StackSampler
    from pipelines.load.sync import sync

    settings = _settings(base_url, token, workdir, requests_per_minute, burst)
    started = time.monotonic()
    with StackSampler(probe=bucket_full) as sampler:
        report = sync(
            settings,
            full_refresh=full_refresh,
            pipelines_dir=str(Path(workdir) / "pipelines"),
            history=history,
        )
    return {
        "wall_seconds": time.monotonic() - started,
        "rows": report.rows,
        "rows_by_table": {name: r.rows for name, r in report.resources.items()},
        "requests": report.total_requests,
        "throttled_429": report.throttled_429,
        "retries": report.retries,
        "request_window": report.request_window,
        "profile": sampler.shares(),
        "threads_cpu": sampler.cpu(),
        "bucket_full": sampler.probe_summary(),
        "rss_by_step": sampler.rss_by_step,
        "rss_start": sampler.rss_start,
        "history_rows": dict(report.history_rows),
    }


def bucket_full() -> bool:
    """True while the client's token bucket is at capacity: from then on, tokens the rate adds
    are lost. Reads the bucket's state (read-only) for the diagnosis of utilisation."""
    from pipelines.api import rate_limit

    now = time.monotonic()
    for bucket in list(rate_limit._buckets.values()):
        tokens = bucket._tokens + max(0.0, now - bucket._last) * bucket.rate
        if tokens >= bucket.capacity - 1e-9 and now >= bucket._blocked_until:
            return True
    return False


def profiled_sync(base_url: str, token: str, workdir: str) -> dict[str, Any]:
    """A full sync with cProfile on the loader (main) thread: which functions its time goes to.

    cProfile slows pure-Python code, so this run's wall time is not a throughput figure; it is
    separate from the measured run and only its proportions are reported.
    """
    import cProfile
    import pstats

    from pipelines.load.sync import sync

    settings = _settings(base_url, token, workdir, UNLIMITED_RPM, 1000)
    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    report = sync(settings, full_refresh=True, pipelines_dir=str(Path(workdir) / "pipelines"))
    profiler.disable()
    wall = time.monotonic() - started
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]

    def label(key: tuple[str, int, str]) -> str:
        path, _, name = key
        for marker in ("/site-packages/", f"{REPO_ROOT}/"):
            if marker in path:
                return f"{path.split(marker, 1)[1]}:{name}"
        return f"{path.rsplit('/', 1)[-1]}:{name}"

    own = sorted(((v[2], label(k)) for k, v in entries.items()), reverse=True)[:12]
    steps = {}
    for key, value in entries.items():
        if key[0].endswith("dlt/pipeline/pipeline.py") and key[2] in ("extract", "normalize", "load"):
            steps[key[2]] = value[3]  # cumulative seconds in that step
    # Cumulative seconds of the dlt functions a slow loader thread has been seen to spend on.
    key: dict[str, float] = {}
    for (path, _, name), value in entries.items():
        if "/dlt/" in path and name in KEY_FUNCTIONS:
            key[KEY_FUNCTIONS[name]] = max(key.get(KEY_FUNCTIONS[name], 0.0), value[3])
    return {
        "wall_seconds": wall,
        "rows": report.rows,
        "top_own": [(name, seconds) for seconds, name in own],
        "steps": steps,
        "key_cumulative": key,
    }


KEY_FUNCTIONS = {
    "compute_table_schema": "table schema computed and validated per item (hints.compute_table_schema)",
    "resolve_configuration": "dlt configuration resolved (resolve.resolve_configuration)",
    "w_normalize_files": "normalize worker (worker.w_normalize_files)",
    "load_single_package": "load of a package (load.load_single_package)",
}


def peer_sync(base_url: str, token: str, workdir: str) -> dict[str, Any]:
    """dlt's rest_api source on the same endpoints into its own DuckDB file."""
    # dlt reads these when the source runs: as many worker threads as our connector has, and
    # enough attempts that 429s (answered with Retry-After) never make the peer give up.
    os.environ["EXTRACT__WORKERS"] = str(CONCURRENCY)
    os.environ["RUNTIME__REQUEST_MAX_ATTEMPTS"] = "50"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from bench.peer import peer_config

    Path(workdir).mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        pipeline_name="peer",
        destination=dlt.destinations.duckdb(str(Path(workdir) / "peer_warehouse.duckdb")),
        dataset_name="peer",
        pipelines_dir=str(Path(workdir) / "peer_pipelines"),
    )
    started = time.monotonic()
    pipeline.run(rest_api_source(peer_config(base_url, token)), loader_file_format="parquet")
    wall = time.monotonic() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    tables = ("repositories", "webhooks", "fixes", "scans", "findings")
    return {
        "wall_seconds": wall,
        "rows": sum(counts.get(t, 0) for t in tables),
        "rows_by_table": {t: counts.get(t, 0) for t in tables},
    }


def ceiling_fetch(base_url: str, token: str) -> dict[str, Any]:
    """Plain httpx + json over the same lists, sampled like our sync."""
    from bench.ceiling import fetch_all
    from bench.sampler import StackSampler

    started = time.monotonic()
    with StackSampler() as sampler:
        result = fetch_all(base_url, token, CONCURRENCY)
    return {**result, "wall_seconds": time.monotonic() - started, "profile": sampler.shares()}


def marts_build(base_url: str, token: str, workdir: str) -> dict[str, Any]:
    """Every mart rebuilt on the DuckDB file our sync loaded (transform.dbt_runner.build_marts: dbt run)."""
    from pipelines.load.destinations import make_pipeline
    from pipelines.transform.dbt_runner import build_marts

    settings = _settings(base_url, token, workdir, UNLIMITED_RPM, 1000)
    pipeline = make_pipeline(settings, pipelines_dir=str(Path(workdir) / "pipelines"))
    started = time.monotonic()
    report = build_marts(pipeline, settings)
    return {
        "wall_seconds": time.monotonic() - started,
        "build_seconds": report.elapsed_seconds,
        "rows": dict(report.rows),
    }
