"""Event delivery -> marts latency under `pixee-etl serve`: python -m bench.webhook_latency [--samples N].

On loopback: a Prefect server (the API both processes share), the simulator in this process
delivering webhook events, `pixee-etl receive --trigger` (journal + debounced Prefect event), and
`pixee-etl serve` with a profile whose [events] are on. Time moves until a fix's PR merges; the
clock starts when the receiver acknowledges that pr.merged delivery and stops when the fix shows
as merged in pixee_marts.fix_latency: the end of the first flow run that started after the
acknowledgement (it read a journal holding the event), from the Prefect API, because a reader
polling the DuckDB file would hold a lock the run's writer needs. Each sampled fix is checked
in fix_latency once serve is stopped. Goal: under 60 s. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

SECRET = "whsec_bench_" + "b" * 24
PROFILE = """
[destination]
kind = "duckdb"
duckdb_path = "{db}"
[api]
tier = "enterprise"
[run]
lag_seconds = 300
[events]
enabled = true
journal = "{journal}"
reconcile_hours = 24
[schedule]
incremental_cron = "0 0 1 1 *"
full_cron = "0 3 1 1 *"
timezone = "UTC"
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Any, timeout: float, procs: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"bench: a process ended while waiting for {what}: {proc.args}")
        try:
            got = check()
            if got:
                return got
        except Exception:  # not up yet, or the warehouse is being written
            pass
        time.sleep(0.25)
    raise SystemExit(f"bench: timed out waiting for {what}")


def _completed_after(api: str, t0: float) -> float | None:
    """End time (epoch s) of the first flow run that started after t0 and completed, if any."""
    runs = httpx.post(f"{api}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 25}).json()
    ends = []
    for run in runs:
        start, end = run.get("start_time"), run.get("end_time")
        if start and end and run.get("state_type") == "COMPLETED" and _epoch(start) > t0:
            ends.append((_epoch(start), _epoch(end)))
    return min(ends)[1] if ends else None


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _merged(db: Path, fix_id: str) -> bool:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "select merged_at from pixee_marts.fix_latency where fix_id = ?", [fix_id]
        ).fetchone()
    return bool(row and row[0] is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_latency")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--repositories", type=int, default=40)
    args = parser.parse_args(argv)
    from simulator import SimConfig, Simulator

    work = Path(tempfile.mkdtemp(prefix="pixee-latency-"))
    db, journal = work / "warehouse.duckdb", work / "events.sqlite"
    (work / "profiles").mkdir()
    (work / "profiles" / "bench.toml").write_text(PROFILE.format(db=db, journal=journal))
    sim = Simulator(SimConfig(repositories=args.repositories, days=30, webhook_retry_scale=0.01))
    base_url = sim.start()
    prefect_port, rx_port = _port(), _port()
    env = {
        **os.environ,
        "PIXEE_TOKEN": sim.org_token,
        "PIXEE_BASE_URL": base_url,
        "PIXEE_PROFILES_DIR": str(work / "profiles"),
        "PIXEE_WEBHOOK_SECRET": SECRET,
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    exe = [sys.executable, "-m", "pipelines.cli"]
    procs: list[subprocess.Popen[bytes]] = []
    logs = work / "logs"
    logs.mkdir()

    def start(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
        procs.append(proc)
        return proc

    samples: list[float] = []
    sampled: list[str] = []
    try:
        start(
            "prefect",
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(prefect_port),
            ],
        )
        _wait(
            "the Prefect server",
            lambda: httpx.get(env["PREFECT_API_URL"] + "/health").status_code == 200,
            180,
            procs,
        )
        # The first run reconciles (reads everything) before the timed ones.
        with open(logs / "first-run.log", "wb") as out:
            subprocess.run(
                [*exe, "run", "--profile", "bench"], env=env, check=True, cwd=work, stdout=out, stderr=out
            )
        start("receive", [*exe, "receive", "--profile", "bench", "--port", str(rx_port), "--trigger"])
        _wait(
            "the receiver",
            lambda: httpx.get(f"http://127.0.0.1:{rx_port}/healthz").status_code == 200,
            60,
            procs,
        )
        start("serve", [*exe, "serve", "--profile", "bench"])
        _wait("serve to be ready", lambda: b"ready" in (logs / "serve.log").read_bytes(), 180, procs)
        with httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
            c.post("/webhooks", json={"url": f"http://127.0.0.1:{rx_port}/webhooks/pixee", "secret": SECRET})
        seen: set[str] = set()
        while len(samples) < args.samples:
            sim.advance(2)
            _wait("deliveries", lambda: sim.settle_deliveries(0.1), 120, procs)
            merged = [
                e
                for e in sim.deliveries()["log"]
                if e["type"] == "pr.merged" and e["status"] == 200 and e["event_id"] not in seen
            ]
            if not merged:
                continue
            entry = merged[0]
            seen.update(e["event_id"] for e in merged)
            fix_id = _fix_of(sim, entry["event_id"])
            t0 = entry["at"]
            end = _wait(
                f"a run after {fix_id} merged",
                lambda t=t0: _completed_after(env["PREFECT_API_URL"], t),
                300,
                procs,
            )
            latency = end - t0
            samples.append(latency)
            sampled.append(fix_id)
            print(
                f"sample {len(samples)}: {fix_id} merged -> in fix_latency after {latency:.1f} s", flush=True
            )
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is procs[-1] else signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        sim.stop()
    missing = [f for f in sampled if not _merged(db, f)]
    if missing:
        raise SystemExit(f"bench: the runs ended but these fixes are not merged in fix_latency: {missing}")
    result = {
        "samples_s": [round(s, 1) for s in samples],
        "median_s": round(statistics.median(samples), 1),
        "max_s": round(max(samples), 1),
        "goal_s": 60,
        "repositories": args.repositories,
    }
    print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _fix_of(sim: Any, event_id: str) -> str:
    """The fix a delivered pr.merged event names (the log keeps ids only)."""
    from simulator import events

    for fix in sim.org.records["fixes"].values():
        decided = fix.decided
        if (
            decided is not None
            and fix.merged
            and events.event_id(sim.cfg.seed, "pr.merged", fix.id, decided) == event_id
        ):
            return str(fix.id)
    raise SystemExit(f"bench: no fix for event {event_id}")


if __name__ == "__main__":
    sys.exit(main())
