"""Fixtures of the hostile-server suite: tampering proxies, and a client that retries at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipelines.api import client
from pipelines.settings import Settings
from tests.hostile.support import HostileProxy, Proxied


@pytest.fixture
def proxy() -> Iterator[Callable[..., HostileProxy]]:
    """Factory: `proxy(sim)` in front of a started simulator, `proxy()` a scripted server; each
    is started (`.base_url`) and stopped at teardown."""
    started: list[HostileProxy] = []

    def make(sim: Any = None) -> HostileProxy:
        server = HostileProxy(sim.base_url if sim is not None else None)
        server.base_url = server.start()  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync's client without the production backoff (0.5 s doubling): six attempts take no time."""
    monkeypatch.setattr(
        "pipelines.load.sync.make_client", lambda s, **kw: client.make_client(s, backoff_base=0.002, **kw)
    )


@pytest.fixture
def proxied(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Settings],
    proxy: Callable[..., HostileProxy],
    fast_retries: None,
) -> Callable[..., Proxied]:
    """Factory: `proxied(**SimConfig fields)` starts a simulator with a proxy in front of it, for
    a sync whose client retries at once."""

    def make(**config: Any) -> Proxied:
        sim = simulator(**config)
        return Proxied(sim, proxy(sim), sim_settings)

    return make
