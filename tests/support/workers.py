"""For tests that run other processes (a Celery worker, gunicorn, a browser's live server)
or connections of their own: the database URL a subprocess should use, a connection
outside Django's, and polling until something another process does has happened."""

from __future__ import annotations

import time
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection


def database_url_for_worker(name: str | None = None) -> str:
    """A URL for a subprocess: the test database, or database `name` on the same server."""
    db = {**connection.settings_dict, **({"NAME": name} if name else {})}
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={quote(host, safe='/')}"
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"


def own_connection() -> psycopg.Connection:
    """A connection of the test's own (not Django's), to hold locks in a transaction."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
    )


def wait_for(predicate, *, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")
