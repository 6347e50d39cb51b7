"""Settings of the current transaction for a few statements, put back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def transaction_settings(cursor: Any, **settings: str) -> Iterator[None]:
    """Give the statements inside these settings (e.g. enable_nestloop="off"), then put back
    what was in force. `SET LOCAL` alone lasts to the end of the transaction, and a service may
    run inside a caller's (a settlement run, a test): its later statements would be planned
    without nested loops too — over a table partitioned by month, as parallel hash joins of
    every partition. On an error nothing is put back here: the savepoint's rollback does it."""
    previous: dict[str, str | None] = {}
    for name, value in settings.items():
        # missing_ok: a custom setting (haken.*) is unknown to a session until first set; it
        # reads NULL then, and set_config(name, NULL) puts it back to its default ('').
        cursor.execute("SELECT current_setting(%s, true), set_config(%s, %s, true)", [name, name, value])
        previous[name] = cursor.fetchone()[0]
    yield
    for name, earlier in previous.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, earlier])
