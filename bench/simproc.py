"""The simulator in its own process: start it, drive its /_sim control routes, read its CPU and memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, field: str) -> int:
    """A kB figure from /proc/<pid>/status (VmHWM is the peak resident set), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


@dataclass
class SimProcess:
    """`python -m simulator` as a subprocess, so its CPU and memory never mix with the connector's."""

    repositories: int
    findings: int
    requests_per_minute: float | None = None
    burst: int = 10
    latency_ms: float = 0.0
    seed: int = 7

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.token = ""

    def __enter__(self) -> SimProcess:
        cmd = [sys.executable, "-m", "simulator", "--json", "--seed", str(self.seed)]
        cmd += ["--repositories", str(self.repositories), "--findings", str(self.findings)]
        cmd += ["--latency-ms", str(self.latency_ms)]
        if self.requests_per_minute is None:
            cmd.append("--no-rate-limit")
        else:
            cmd += ["--requests-per-minute", str(self.requests_per_minute), "--burst", str(self.burst)]
        # stderr to /dev/null: uvicorn's warnings would hold our pipes open and are not measurements.
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the simulator did not start: {' '.join(cmd)}")
        info = json.loads(line)
        self.base_url, self.token = info["base_url"], info["org_token"]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def peak_rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(
            method,
            f"{self.base_url}/_sim/{route}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=600,
        )
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset")

    def advance(self, hours: float) -> dict[str, Any]:
        return self._call("POST", "advance", {"hours": hours})

    def truth(self) -> dict[str, list[dict[str, Any]]]:
        return self._call("GET", "truth")
