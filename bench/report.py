"""Renders one bench run as docs/benchmarks.md: machine, date, a table per measurement, the verdicts."""

from __future__ import annotations

from typing import Any

from bench.minimum import CHILD_LISTS

RATE_GOAL = 0.95
REQUESTS_GOAL = 1.02
THROUGHPUT_GOAL = 0.5
MEMORY_GOAL_MB = 600.0
MARTS_GOAL_SECONDS = 20.0


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _s(value: float) -> str:
    return f"{value:,.1f}"


def _profile(result: dict[str, Any], role: str, top: int = 4) -> str:
    shares = result.get("profile", {}).get(role, [])
    return "; ".join(f"{name} {share:.0%}" for name, share in shares[:top]) or "no samples"


def _accepted(result: dict[str, Any]) -> int:
    return int(result["server_requests"] - result["server_429"])


def _memory(result: dict[str, Any]) -> str:
    """Where resident memory peaked, by what the loader thread was doing (sampled VmRSS)."""
    by_step = result.get("rss_by_step") or {}
    if not by_step:
        return "no memory samples."
    ranked = sorted(by_step.items(), key=lambda kv: -kv[1])
    steps = "; ".join(f"{name} {mb:,.0f} MB" for name, mb in ranked)
    peak_step, peak = ranked[0]
    others = max((mb for name, mb in ranked[1:]), default=0.0)
    if peak_step.startswith("load"):
        why = (
            f"The load step (dlt loading a batch's parquet files into DuckDB, whose buffers live "
            f"outside Python) adds {peak - others:,.0f} MB over the highest RSS of every other step."
        )
    else:
        why = (
            "Rows wait as pages in the per-table queues and as Arrow batches while a batch is "
            "normalized and loaded."
        )
    return (
        f"VmRSS sampled every 10 ms was {result.get('rss_start', 0):,.0f} MB when the sync began "
        f"(interpreter, dlt, pyarrow, duckdb imported) and peaked while the loader thread was in "
        f"{peak_step}; the largest RSS seen in each loader step: {steps}. {why}"
    )


def _us_per_row(result: dict[str, Any]) -> float:
    return result["cpu_seconds"] / result["rows"] * 1e6 if result["rows"] else 0.0


def _full(result: dict[str, Any]) -> dict[str, Any]:
    return result.get("bucket_full") or {"share": 0.0, "fetch_during": []}


def _blocked(result: dict[str, Any]) -> float:
    shares = dict(result.get("profile", {}).get("fetch", []))
    return shares.get("blocked: page queue full (loader behind)", 0.0)


def _threads(result: dict[str, Any]) -> str:
    """On-CPU, waiting-for-a-CPU and blocked seconds of the loader thread and the fetch threads."""
    cpu = result.get("threads_cpu", {})
    wall = result["wall_seconds"]
    parts = []
    if "main" in cpu:
        m = cpu["main"]
        blocked = max(0.0, wall - m["on_cpu"] - m["runqueue_wait"])
        parts.append(
            f"the loader thread was on a CPU {_s(m['on_cpu'])} s, runnable but waiting for a CPU "
            f"(other threads, processes) {_s(m['runqueue_wait'])} s, and blocked (GIL, disk, empty queue) "
            f"{_s(blocked)} s of the {_s(wall)} s"
        )
    if "fetch" in cpu:
        f = cpu["fetch"]
        parts.append(
            f"its {f['threads']:.0f} fetch threads together were on a CPU {_s(f['on_cpu'])} s and "
            f"waited for one {_s(f['runqueue_wait'])} s"
        )
    return ("Threads (from /proc schedstat): " + "; ".join(parts) + ".") if parts else ""


def _cprofile(run: dict[str, Any] | None) -> str:
    if not run:
        return ""
    steps = run["steps"]
    total = sum(steps.values()) or 1.0
    split = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in steps.items())
    top = "; ".join(f"`{name}` {seconds:.1f} s" for name, seconds in run["top_own"][:8])
    wall = run["wall_seconds"] or 1.0
    key = "; ".join(f"{name} {seconds / wall:.0%}" for name, seconds in run.get("key_cumulative", {}).items())
    return (
        f"cProfile of the loader thread in a separate sync of {run['findings']:,} findings "
        f"({run['rows']:,} rows, {_s(wall)} s under the profiler, which slows it: only proportions "
        f"count): dlt steps {split}; share of the profiled time inside {key}; most own time in {top}."
    )


def rate_numbers(rate: dict[str, Any], sizes: dict[str, Any], who: str) -> dict[str, float]:
    """Theoretical minimum wall time for the requests the server accepted, and our share of it."""
    run = rate[who]
    per_second = sizes["requests_per_minute"] / 60.0
    floor = max(0.0, (_accepted(run) - sizes["burst"]) / per_second)
    return {
        "floor": floor,
        "ratio": floor / run["wall_seconds"] if run["wall_seconds"] else 0.0,
        "window_ratio": floor / run["request_window"] if run.get("request_window") else 0.0,
    }


def render(results: dict[str, Any]) -> str:
    sizes, rate, thr = results["sizes"], results["rate"], results["throughput"]
    verdicts: list[tuple[str, bool, str, str]] = []  # goal, met, measured, what limits it
    out = ["# Benchmarks", ""]
    out.append(
        "Written by `python -m bench`"
        + (" **--quick** (small sizes: not the published figures)" if results["quick"] else "")
        + f" on {results['date']}; the whole run took {results['bench_seconds'] / 60:.1f} minutes. "
        "Every figure comes from this one run: the simulator runs in its own process (`python -m "
        "simulator`) on loopback, and every measured sync runs in a fresh child process, so CPU and "
        "peak memory (getrusage of that process; VmHWM for the simulator) are its own. Ratios compare "
        "runs made minutes apart on the same machine; absolute times stand beside them."
    )
    out += ["", "## Machine", ""]
    out.append(_table(["", ""], [[k, v] for k, v in results["machine"].items()]))

    # 1 -----------------------------------------------------------------------------------------
    ours, peer = rate["ours"], rate["peer"]
    o, p = rate_numbers(rate, sizes, "ours"), rate_numbers(rate, sizes, "peer")
    org = rate["org"]
    out += ["", "## 1. Rate-limit utilisation", ""]
    out.append(
        f"A full sync of {org['repositories']:,} repositories ({org['findings']:,} findings, "
        f"{org['fixes']:,} fixes, {org['scans']:,} scans) from a server that admits "
        f"{sizes['requests_per_minute']:g} requests/min with a burst of {sizes['burst']} and answers "
        f"after {sizes['latency_ms']:g} ms on average (uniform 50-150%). Theoretical minimum = "
        "(requests the server accepted - burst) / rate; utilisation = that minimum / wall time "
        "(1.0 = every token spent the moment it existed). Both load into DuckDB; both use "
        f"{8} concurrent requests. The peer is dlt's `rest_api` source (`bench/peer.py`): limit "
        "100, `JSONResponseCursorPaginator(cursor_path='pagination.next_cursor', "
        "cursor_param='cursor', has_more_path='pagination.has_more')`, `data_selector: data`, "
        "bearer auth, the three per-repository lists resolved from `repositories.id` and "
        "`parallelized` with `EXTRACT__WORKERS=8`, `RUNTIME__REQUEST_MAX_ATTEMPTS=50` so that "
        "429s (which it retries after `Retry-After`) never make it give up."
    )
    out.append("")
    rows = []
    for name, run, r in (("pixee-etl", ours, o), ("dlt rest_api (peer)", peer, p)):
        rows.append(
            [
                name,
                _n(_accepted(run)),
                _n(run["server_429"]),
                _s(run["wall_seconds"]),
                _s(r["floor"]),
                f"**{r['ratio']:.3f}**",
                _n(run["rows"]),
                _n(run["peak_rss_mb"]),
            ]
        )
    out.append(
        _table(
            [
                "client",
                "requests accepted",
                "429s received",
                "wall s",
                "theoretical min s",
                "utilisation",
                "rows",
                "peak RSS MB",
            ],
            rows,
        )
    )
    speedup = peer["wall_seconds"] / ours["wall_seconds"] if ours["wall_seconds"] else 0.0
    out.append("")
    out.append(
        f"pixee-etl: {speedup:.2f}x the peer's speed (peer wall / ours). Over its request window "
        f"(first request to last response, {_s(ours['request_window'])} s) pixee-etl's utilisation is "
        f"{o['window_ratio']:.3f}; the rest of its wall time is pipeline setup and the last load. "
        f"Where its fetch threads spent their time: {_profile(ours, 'fetch')}. Its token bucket "
        f"was full (so budget was being lost) in {_full(ours)['share']:.1%} of the samples."
    )
    verdicts.append(
        (
            f"utilisation >= {RATE_GOAL}",
            o["ratio"] >= RATE_GOAL,
            f"{o['ratio']:.3f} ({o['window_ratio']:.3f} over the request window)",
            f"over the request window alone utilisation is {o['window_ratio']:.3f}; the other "
            f"{_s(ours['wall_seconds'] - ours['request_window'])} s of the {_s(ours['wall_seconds'])} s "
            "are outside it (dlt pipeline setup, the first load of repositories and webhooks before "
            "the lists start, the last batch's load after the last response). Inside the window, "
            f"the client's token bucket was full (at its capacity, burst minus a headroom of 2, "
            f"so every token the rate added was lost) in {_full(ours)['share']:.1%} of the samples; "
            "meanwhile its fetch threads were: "
            f"{'; '.join(f'{n} {v:.0%}' for n, v in _full(ours)['fetch_during'][:4]) or 'no samples'}. "
            f"Over the whole run the fetch threads were: {_profile(ours, 'fetch')}; the loader "
            f"thread: {_profile(ours, 'main', 3)}. {_threads(ours)}",
        )
    )
    verdicts.append(
        (
            "zero 429s",
            ours["server_429"] == 0,
            f"{ours['server_429']} 429s",
            "the client's bucket ran ahead of the server's.",
        )
    )
    verdicts.append(
        (
            "faster than the peer",
            ours["wall_seconds"] < peer["wall_seconds"],
            f"{_s(ours['wall_seconds'])} s vs {_s(peer['wall_seconds'])} s",
            "a refused request consumes no token, so the peer's retries after Retry-After keep the "
            f"server's bucket near empty too: {p['ratio']:.3f} utilisation with "
            f"{peer['server_429']:,} 429s, against ours {o['ratio']:.3f} (limited as above).",
        )
    )

    # 2 -----------------------------------------------------------------------------------------
    minimum = rate["minimum"]
    total_min = sum(minimum.values())
    out += ["", "## 2. Requests spent", ""]
    out.append(
        "Requests counted by the simulator (its truth, not the client's tally). The minimum is one "
        "read of the root (it tells the API's flavour), then, for every list the sync reads, "
        "ceil(items / 100) pages and at least one: "
        + ", ".join(f"{k} {v:,}" for k, v in minimum.items())
        + f" = {total_min:,}. Then an incremental sync with nothing changed, and one after the "
        f"simulator advanced 24 hours."
    )
    out.append("")
    rows = []
    for label, run in (
        ("full sync", ours),
        ("incremental, no change", rate["no_change"]),
        ("incremental, after a simulated day", rate["day"]),
    ):
        ratio = f"**{run['server_requests'] / total_min:.3f}**" if run is ours else "-"
        rows.append(
            [
                label,
                _n(run["server_requests"]),
                _n(total_min) if run is ours else "-",
                ratio,
                _n(run["server_429"]),
                _n(run["rows"]),
                _s(run["wall_seconds"]),
            ]
        )
    out.append(_table(["sync", "requests", "minimum", "ratio", "429s", "rows loaded", "wall s"], rows))
    out.append("")
    out.append(
        "An incremental sync reads the root (which API this is: `PIXEE_API_FLAVOUR=v1` skips it) and "
        "every list once with `updated_since` (one page each when little changed), so its floor is "
        f"one request per list: {len(CHILD_LISTS)} lists per repository x {org['repositories']:,} "
        "repositories + repositories + webhooks + the root = "
        f"{len(CHILD_LISTS) * org['repositories'] + 3:,}, paced by the same 600/min bucket."
    )
    spent = ours["server_requests"] / total_min
    verdicts.append(
        (
            f"full sync <= {REQUESTS_GOAL}x the minimum",
            spent <= REQUESTS_GOAL,
            f"{spent:.3f}x",
            f"{ours['server_requests'] - total_min:,} requests above the minimum "
            f"({ours['retries']} retries, {ours['server_429']} 429s).",
        )
    )

    # 3 -----------------------------------------------------------------------------------------
    ceiling, fast = thr["ceiling"], thr["ours"]
    c_rate = ceiling["rows"] / ceiling["wall_seconds"]
    f_rate = fast["rows"] / fast["wall_seconds"]
    share = f_rate / c_rate if c_rate else 0.0
    out += ["", "## 3. Throughput with no rate limit", ""]
    out.append(
        f"{sizes['throughput_findings']:,} findings in {sizes['throughput_repositories']:,} "
        "repositories (plus their fixes, scans, repositories and webhooks), no rate limit, no added "
        "latency, 8 concurrent requests. The ceiling fetches the same pages with plain httpx and "
        "`json` and loads nothing (`bench/ceiling.py`); pixee-etl syncs them end to end into a fresh "
        "DuckDB file. Peak RSS is the child process that ran the client; the simulator (a separate "
        f"process) peaked at {_n(thr['simulator_peak_rss_mb'])} MB while serving "
        f"({_n(thr['simulator_generate_peak_rss_mb'])} MB after generating the organisation)."
    )
    out.append("")
    rows = []
    for name, run in (("ceiling: httpx + json, no load", ceiling), ("pixee-etl sync into DuckDB", fast)):
        rows.append(
            [
                name,
                _n(run["rows"]),
                _n(run["server_requests"]),
                _s(run["wall_seconds"]),
                _n(run["rows"] / run["wall_seconds"]),
                f"**{(run['rows'] / run['wall_seconds']) / c_rate:.2f}**",
                _n(run["peak_rss_mb"]),
                _s(run["cpu_seconds"]),
                _s(run["server_cpu_seconds"]),
            ]
        )
    out.append(
        _table(
            [
                "run",
                "rows",
                "requests",
                "wall s",
                "rows/s",
                "of ceiling",
                "client peak RSS MB",
                "client CPU s",
                "simulator CPU s",
            ],
            rows,
        )
    )
    out.append("")
    out.append(
        "Where the time went (sampled stacks, every 10 ms, `bench/sampler.py`):\n"
        f"- pixee-etl loader (main) thread: {_profile(fast, 'main', 6)}\n"
        f"- {_threads(fast)}\n"
        f"- {_cprofile(thr.get('profile_run'))}\n"
        f"- pixee-etl fetch threads: {_profile(fast, 'fetch')}\n"
        f"- ceiling fetch threads: {_profile(ceiling, 'fetch')}\n"
        f"- CPU: pixee-etl used {_s(fast['cpu_seconds'])} CPU s in {_s(fast['wall_seconds'])} s "
        f"({fast['cpu_seconds'] / fast['wall_seconds']:.2f} cores) while the simulator used "
        f"{_s(fast['server_cpu_seconds'])} s ({fast['server_cpu_seconds'] / fast['wall_seconds']:.2f} "
        f"cores); the ceiling used {_s(ceiling['cpu_seconds'])} s, the simulator serving it "
        f"{_s(ceiling['server_cpu_seconds'])} s "
        f"({ceiling['server_cpu_seconds'] / ceiling['wall_seconds']:.2f} cores). The machine has "
        f"{results['machine']['cores']} cores."
    )
    verdicts.append(
        (
            f"rows/s >= {THROUGHPUT_GOAL} of the ceiling",
            share >= THROUGHPUT_GOAL,
            f"{share:.2f}",
            "the one loader thread, which runs dlt's extract, normalize and load for every row "
            f"({_profile(fast, 'main', 4)}), while the fetch threads spend {_blocked(fast):.0%} of "
            "their samples blocked on a full page queue, waiting for it. The ceiling does no "
            f"per-row work after json. The process used {fast['cpu_seconds'] / fast['wall_seconds']:.2f} "
            "cores: one interpreter runs Python on one core at a time (the GIL), so the loader "
            "thread and the fetch threads share that core; it spent "
            f"{_us_per_row(fast):.0f} CPU us a row against the ceiling's {_us_per_row(ceiling):.0f}. "
            f"{_threads(fast)} {_cprofile(thr.get('profile_run'))}",
        )
    )
    verdicts.append(
        (
            f"connector peak RSS < {MEMORY_GOAL_MB:.0f} MB",
            fast["peak_rss_mb"] < MEMORY_GOAL_MB,
            f"{fast['peak_rss_mb']:,.1f} MB",
            _memory(fast),
        )
    )

    # 4 -----------------------------------------------------------------------------------------
    marts = thr["marts"]
    out += ["", "## 4. Marts", ""]
    out.append(
        "`pipelines.transform.dbt_runner.build_marts` (`dbt run` of the project in sql/, in-process) "
        "on the DuckDB file of "
        f"measurement 3 ({sizes['throughput_findings']:,} findings), in its own process."
    )
    out.append("")
    rows = [[name, _n(count)] for name, count in marts["rows"].items()]
    rows.append(["**all marts: build time**", f"**{_s(marts['build_seconds'])} s**"])
    out.append(_table(["mart", "rows"], rows))
    out.append("")
    out.append(f"Peak RSS of the marts process: {_n(marts['peak_rss_mb'])} MB.")
    verdicts.append(
        (
            f"marts build < {MARTS_GOAL_SECONDS:.0f} s",
            marts["build_seconds"] < MARTS_GOAL_SECONDS,
            f"{_s(marts['build_seconds'])} s",
            "dbt's start-up and parse, then DuckDB executing the models (rows per mart above).",
        )
    )

    # verdicts ----------------------------------------------------------------------------------
    out += ["", "## Closing note: goals met and missed", ""]
    out.append(
        _table(
            ["goal", "result", "measured"],
            [[goal, "met" if ok else "**missed**", measured] for goal, ok, measured, _ in verdicts],
        )
    )
    missed = [(goal, why) for goal, ok, _, why in verdicts if not ok]
    if missed:
        out += ["", "### What limits each missed goal (from this run's profile)", ""]
        out += [f"- **{goal}**: {why}" for goal, why in missed]
    out.append("")
    return "\n".join(out)
