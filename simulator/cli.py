"""`pixee-etl simulate` (and `python -m simulator`): serve the simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import datetime
from types import FrameType

from simulator.config import APIS, DEFAULT_DAYS, ENVELOPES, TIERS, SimConfig
from simulator.server import Simulator

# In --help: a simulator's time stands still until asked, and the way to ask is an HTTP route.
CONTROL_HELP = """\
time stands still until you move it: from another shell, with the printed PIXEE_BASE_URL and
PIXEE_TOKEN (the organisation token),
  curl -X POST -H "Authorization: Bearer $PIXEE_TOKEN" -d '{"hours": 24}' "$PIXEE_BASE_URL/_sim/advance"
makes 24 simulated hours pass: scans, triage, fixes, pull requests and their webhook events.
Other control routes (organisation token): GET /_sim/stats, GET /_sim/truth, GET /_sim/deliveries,
POST /_sim/inject, POST /_sim/rate-limit, POST /_sim/deliveries/config (simulator/README.md).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        choices=APIS,
        default="v1",
        help="which API to serve: the v1 overview API or Pixee's HAL platform API (default v1)",
    )
    parser.epilog = CONTROL_HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--seed", type=int, default=7, help="the organisation's seed (default 7)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line: base_url, org_token, repo_tokens (platform: also api_key)",
    )
    parser.add_argument("--repositories", type=int, default=12, help="number of repositories (default 12)")
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"days of history (default {DEFAULT_DAYS['v1']}; platform: {DEFAULT_DAYS['platform']})",
    )
    parser.add_argument(
        "--findings", type=int, default=None, help="target number of findings (default: natural)"
    )
    parser.add_argument("--now", default=None, help="simulated now, ISO 8601 UTC (default: this hour)")
    rate = parser.add_argument_group("rate limit (default: the standard tier, 60/min with burst 10)")
    rate.add_argument("--tier", choices=sorted(TIERS), default=None)
    rate.add_argument("--requests-per-minute", type=float, default=None)
    rate.add_argument("--burst", type=int, default=None)
    rate.add_argument("--no-rate-limit", action="store_true", help="admit every request")
    parser.add_argument("--envelope", choices=ENVELOPES, default="cursor", help="page shape (default cursor)")
    parser.add_argument("--ignore-updated-since", action="store_true", help="answer with everything")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mean added latency per request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500 or 503")
    parser.add_argument(
        "--visibility-lag-seconds",
        type=int,
        default=0,
        help="changes carry an updated_at up to this many seconds before they become visible",
    )
    parser.add_argument(
        "--scan-retention-days",
        type=float,
        default=None,
        help="scans leave the API this many days after they were created (default: never)",
    )
    parser.add_argument(
        "--reopen-dismissed-rate",
        type=float,
        default=0.0,
        help="share of dismissed findings reopened 1-20 days later (default 0)",
    )
    platform = parser.add_argument_group("platform API only")
    platform.add_argument(
        "--relative-hrefs", action="store_true", help="links as paths (/api/v1/...) instead of absolute URLs"
    )
    platform.add_argument(
        "--extra-relation",
        default=None,
        metavar="RELATION",
        help="serve one more root relation no client knows, e.g. sbom-exports",
    )
    platform.add_argument(
        "--ignore-time-filters",
        action="store_true",
        help="answer updated-after/-before and created-after/-before with everything",
    )
    hooks = parser.add_argument_group("webhook deliveries (also POST /_sim/deliveries/config)")
    hooks.add_argument("--webhook-retry-scale", type=float, default=1.0, help="retry delays times this")
    hooks.add_argument("--webhook-duplicate-rate", type=float, default=0.0, help="share delivered twice")
    hooks.add_argument("--webhook-drop-rate", type=float, default=0.0, help="share never delivered")
    hooks.add_argument(
        "--webhook-allow-remote",
        action="store_true",
        help="deliver to non-loopback URLs too (off: a test tool sends nothing off this machine)",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    rpm: float | None
    burst = args.burst
    tier = args.tier
    if args.no_rate_limit:
        rpm, tier = None, None
    elif args.requests_per_minute is not None:
        rpm, tier = args.requests_per_minute, None
        burst = burst if burst is not None else 10
    else:
        tier = tier or "standard"  # the real API's default
        rpm = None
    now = None
    if args.now:
        now = datetime.fromisoformat(args.now)
        if now.tzinfo is None:
            raise SystemExit("pixee-etl simulate: --now must carry a timezone, e.g. 2026-11-28T00:00:00Z")
    cfg = SimConfig(
        seed=args.seed,
        repositories=args.repositories,
        days=args.days,
        findings=args.findings,
        requests_per_minute=rpm,
        burst=burst if burst is not None else 10,
        tier=tier,
        envelope=args.envelope,
        ignore_updated_since=args.ignore_updated_since,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        now=now,
        visibility_lag_seconds=args.visibility_lag_seconds,
        webhook_retry_scale=args.webhook_retry_scale,
        webhook_duplicate_rate=args.webhook_duplicate_rate,
        webhook_drop_rate=args.webhook_drop_rate,
        webhook_allow_remote=args.webhook_allow_remote,
        scan_retention_days=args.scan_retention_days,
        reopen_dismissed_rate=args.reopen_dismissed_rate,
        api=args.api,
        relative_hrefs=args.relative_hrefs,
        extra_relation=args.extra_relation,
        ignore_time_filters=args.ignore_time_filters,
    )
    if tier is not None and burst is not None:
        cfg.burst = burst  # --tier enterprise --burst 5: the tier's rate with an explicit burst
    return cfg


def main(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"pixee-etl simulate: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sim = Simulator(cfg, port=args.port)
    try:
        base_url = sim.start()
    except OSError:
        print(
            f"pixee-etl simulate: cannot listen on 127.0.0.1:{args.port} (is the port in use?)",
            file=sys.stderr,
        )
        return 1
    try:
        if args.json:
            out = {"base_url": base_url, "org_token": sim.org_token, "repo_tokens": sim.repo_tokens}
            if cfg.api == "platform":
                out["api_key"] = sim.org_token
            print(json.dumps(out), flush=True)
        elif cfg.api == "platform":
            print_platform(sim, cfg, base_url)
        else:
            rate = (
                "off"
                if cfg.requests_per_minute is None
                else f"{cfg.requests_per_minute:g}/min, burst {cfg.burst}"
            )
            n_repos = len(sim.repo_tokens)
            print(f"Pixee API simulator (seed {cfg.seed}, {n_repos} repositories, rate limit {rate})")
            print(f"PIXEE_BASE_URL={base_url}")
            print(f"PIXEE_TOKEN={sim.org_token}")
            for repo_id, token in sim.repo_tokens.items():
                print(f"repository token {repo_id}: {token}")
            print(f'try: curl -H "Authorization: Bearer {sim.org_token}" {base_url}/repositories')
            print(
                f'move time: curl -X POST -H "Authorization: Bearer {sim.org_token}" '
                f"-d '{{\"hours\": 24}}' {base_url}/_sim/advance"
            )
            print("Ctrl-C stops it.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


def print_platform(sim: Simulator, cfg: SimConfig, base_url: str) -> None:
    rate = "off" if cfg.requests_per_minute is None else f"{cfg.requests_per_minute:g}/min, burst {cfg.burst}"
    print(
        f"Pixee platform API simulator (seed {cfg.seed}, {cfg.repositories} repositories, "
        f"{cfg.days} days, rate limit {rate})"
    )
    print(f"PIXEE_SERVER={base_url[: -len('/api/v1')]}")
    print(f"PIXEE_BASE_URL={base_url}")
    print(f"PIXEE_TOKEN={sim.org_token}")
    print(f'try: curl -H "Authorization: Bearer {sim.org_token}" {base_url}')
    print("Ctrl-C stops it.", flush=True)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description="serve the Pixee API simulator")
    add_arguments(parser)
    return main(parser.parse_args(argv))
