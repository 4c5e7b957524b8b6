"""Event delivery -> marts latency under `pixee-etl serve`: python -m bench.webhook_latency [--samples N].

On loopback: a Prefect server (the API both processes share), the simulator in this process
delivering webhook events, `pixee-etl receive --trigger` (journal + debounced Prefect event), and
`pixee-etl serve` with a profile whose [events] are on. Time moves until a fix's PR merges; the
clock starts when the receiver acknowledges that pr.merged delivery and stops when the fix shows
as merged in pixee_marts.fix_latency. Goal: under 60 s. Everything it starts, it stops.
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
        subprocess.run(
            [*exe, "run", "--profile", "bench"],
            env=env,
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
            _wait(f"fix {fix_id} merged in the marts", lambda f=fix_id: _merged(db, f), 300, procs)
            latency = time.time() - entry["at"]
            samples.append(latency)
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
