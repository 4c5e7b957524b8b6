"""`pixee-etl receive`: serve the signed-webhook receiver on uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import secrets as pysecrets
import threading
from pathlib import Path

import uvicorn

from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.events.journal import Journal
from pipelines.events.receiver import ReceiverApp
from pipelines.events.secrets import fingerprint, load_secrets

log = logging.getLogger("pipelines.webhooks")
HEARTBEAT_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any free port)")
    parser.add_argument("--journal", help="the event journal, SQLite (default from the profile's [events])")
    parser.add_argument(
        "--heartbeat-seconds",
        type=float,
        default=HEARTBEAT_SECONDS,
        help="how often the receiver records that it is up (runs use it to detect downtime)",
    )
    parser.add_argument(
        "--forward-seconds",
        type=float,
        default=0.0,
        help="also load the journal into the warehouse this often, for runs on other machines "
        '(profile [events] source = "warehouse"; meant for Snowflake). 0 = off',
    )
    parser.add_argument(
        "--trigger",
        action="store_true",
        help="emit a Prefect event per stored event, so the deployment trigger in prefect.yaml runs a sync",
    )


def _configure_logging() -> None:
    # Not pipelines.cli.run's: importing it would load dlt and the marts into a process
    # that must start (and restart after a crash) in well under Pixee's retry delay.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("pipelines").setLevel(logging.INFO)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _configure_logging()
    secrets = load_secrets()
    journal = Journal(Path(args.journal) if args.journal else settings.events_journal)
    on_stored = None
    if args.trigger:
        from pipelines.events.trigger import NO_SERVER, PrefectTrigger, prefect_api_url

        url, where = prefect_api_url()
        if url is None:
            log.warning(NO_SERVER.format(home=where))
        else:
            log.info("--trigger: Prefect events go to %s (%s)", url, where)
        on_stored = PrefectTrigger(settings.profile)
    app = ReceiverApp(journal, secrets, on_stored=on_stored)
    session = pysecrets.token_hex(8)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(args.heartbeat_seconds):
            journal.beat(session)

    journal.beat(session)
    beater = threading.Thread(target=heartbeat, name="pixee-receiver-heartbeat", daemon=True)
    beater.start()
    if args.forward_seconds > 0:
        from pipelines.events.forward import Forwarder

        forwarder = Forwarder(settings, journal)
        threading.Thread(
            target=forwarder.run,
            args=(args.forward_seconds, stop),
            name="pixee-receiver-forward",
            daemon=True,
        ).start()
    config = uvicorn.Config(app, host=args.host, port=args.port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    log.info(
        "receiving on http://%s:%d/webhooks/pixee into %s (%d secret%s: %s)",
        args.host,
        args.port,
        journal.path,
        len(secrets),
        "s" if len(secrets) > 1 else "",
        ", ".join(fingerprint(s) for s in secrets),
    )
    try:
        server.run()
    finally:
        stop.set()
        journal.beat(session, stopped=True)
        journal.close()
    return 0
