"""The mixed load benchmark end to end at a tiny scale, so the script cannot rot: it seeds,
starts gunicorn and a worker, runs locust for a few seconds, and prints its figures with
zero failures. Not a speed test (speed is measured by `python3 dev.py bench load_mixed`).

It runs on a scratch database of its own on the test PostgreSQL server (created and dropped
here) and its own broker database, so it touches nothing the other tests use."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.support.workers import database_url_for_worker

ROOT = Path(__file__).resolve().parents[2]


def _admin_connection() -> psycopg.Connection:
    return psycopg.connect(database_url_for_worker("postgres"), autocommit=True)


TEMPLATE = "haken_load_smoke_template"


@pytest.fixture
def scratch_database():
    """A fresh database per run, copied from a migrated template kept between runs:
    migrating from nothing would take most of the test's time."""
    with _admin_connection() as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [TEMPLATE]).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    # A no-op once the template is current; new migrations are applied here.
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"],
        check=True,
        env=dict(os.environ, DATABASE_URL=database_url_for_worker(TEMPLATE)),
        cwd=ROOT,
        timeout=300,
    )
    name = f"load_smoke_{uuid.uuid4().hex[:8]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    try:
        yield name
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _own_broker_database(url: str) -> str:
    # Another Redis database number: the benchmark's worker purges its queue at start.
    base, _, number = url.rpartition("/")
    return f"{base}/{(int(number) + 7) % 16 if number.isdigit() else 7}"


def test_load_benchmark_runs_end_to_end_with_zero_failures(scratch_database, tmp_path):
    output = _run_benchmark(
        "load_mixed.py",
        [
            "--sales",
            "20000",
            "--months",
            "3",
            "--placements",
            "40",
            "--run-time",
            "6",
            "--ingest-users",
            "1",
            "--dashboard-users",
            "3",
            "--work",
            str(tmp_path),
        ],
        scratch_database,
    )
    assert "failures: 0;" in output, output[-6000:]
    for figure in (
        "ingest: POST /api/v1/sales",
        "events/s over",
        "ratio ingestion under mixed load / raw COPY",
        "page's own SQL replayed",
        "seeding (not measured)",
    ):
        assert figure in output, f"{figure!r} missing:\n{output[-6000:]}"
    # Every dashboard class request and ingestion row is a figure line with its percentiles.
    assert "\n  ingest " in output and "\n  dashboard " in output, output[-6000:]


def _run_benchmark(script: str, args: list[str], database: str) -> str:
    """Run benchmarks/`script` on the scratch database and its own broker database; its
    output, once it exited 0. The plain static storage: a fresh clone has no collectstatic
    manifest, and making one (compressing every file) would cost a minute of the suite for
    assets the benchmarks never load."""
    if not settings.CELERY_BROKER_URL:
        pytest.fail("CELERY_BROKER_URL is not set: run the suite with `python3 dev.py test`.")
    env = dict(
        os.environ,
        DATABASE_URL=database_url_for_worker(database),
        CELERY_BROKER_URL=_own_broker_database(settings.CELERY_BROKER_URL),
        DJANGO_STATICFILES_STORAGE="django.contrib.staticfiles.storage.StaticFilesStorage",
    )
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    return output


def test_cost_curve_runs_end_to_end_and_prints_its_growth(scratch_database):
    # given a scratch database, when the cost curve runs at two tiny sizes
    output = _run_benchmark("cost_curve.py", ["--sizes", "6000,2000", "--events", "2000"], scratch_database)
    # then each size is settled and ingested into, smallest first, and the growth is printed
    assert output.index("\n2,000 sales,") < output.index("\n6,000 sales,"), output[-6000:]
    assert output.count("sales stored after ingestion: ") == 2, output[-6000:]
    assert "sales stored after ingestion: 8,000" in output, output[-6000:]
    assert "| 2,000 | " in output and "| 6,000 | " in output, output[-6000:]
    assert "3× the sales: settlement took " in output, output[-6000:]


def test_chat_during_settlement_runs_end_to_end_on_separate_lanes(scratch_database):
    # given a scratch database, when chat turns run quiet and then during a settlement
    output = _run_benchmark(
        "chat_during_settlement.py", ["--sales", "20000", "--touchpoints", "2000", "--turns", "5"], scratch_database
    )
    # then the settlement ran on its lane to the end and both sets of turns were measured
    assert "settlement run on the settle lane: " in output, output[-6000:]
    assert "chat overhead, quiet                    5 turns" in output, output[-6000:]
    assert "chat overhead, during settlement" in output, output[-6000:]
    assert "p95 during settlement / p95 quiet: " in output, output[-6000:]
