"""Two transactions at once in a test: one held open in a thread on its own connection,
and a way to see PostgreSQL blocking the other behind it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection, connections, transaction


def transaction_in_thread(
    work: Callable[[], object], *, hold: threading.Event, release: threading.Event
) -> threading.Thread:
    """Run `work` in its own transaction on its own connection, signal `hold` while still
    inside it, and commit only once `release` is set."""

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                hold.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def blocked_backends() -> int:
    """Sessions of this database waiting on another's lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND cardinality(pg_blocking_pids(pid)) > 0"
        )
        return cursor.fetchone()[0]
