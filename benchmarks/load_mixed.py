"""Mixed load: sales ingestion and the partner dashboard at the same time, against the real
server on loopback, with 10 million sales stored (issue 6).

    python3 dev.py bench load_mixed [--sales 10000000] [--reuse] [--run-time 60]
                                    [--ingest-users 2] [--dashboard-users 10]

Data (seeded set-based with generate_series; the seeding time is printed, not measured):
`--sales` sales over the `--months` closed months before the current one and the current
month up to now, 70% carrying a touchpoint's key (1 touchpoint per 10 sales). About 11% of
them belong to the dashboard partner ("Dash partner 0", five employees hired), the rest to
ten other partners with 995 placements. The dashboard partner's history is what its staff
would have: every sale attributed and explained (as the worker does on arrival), each
closed month settled into one statement per contract, all but the last closed month
approved (the ledger posted), the older ones invoiced and paid, the newest invoice open.
Other partners' sales stay pending: they only make the tables as large as a real
platform's. `--reuse` keeps the data of an earlier run with the same scale (seeding 10M
takes minutes) and only deletes the sales an earlier load run ingested.

The system under load is the real one: gunicorn (config.wsgi, DEBUG off, 2 workers × 4
threads, as `ingest_http`, keep-alive 5 s so no connection is closed under a user about to
reuse it) and a real Celery worker (prefork) that attributes each ingested batch, queued on
commit, which is what the portal's sales list shows. The ingest throttle is raised (the
benchmark measures the server, not the per-key rate limit). Locust itself, the server, the
worker and PostgreSQL share the machine's cores: state the load average with the figures.

Locust runs headless as a subprocess for `--run-time` seconds on loopback with two user
classes at once (benchmarks/locustfile_mixed.py):
- ingestion: a partner system posting 1,000-event batches to POST /api/v1/sales with its
  Bearer key, back to back (closed loop: the figure is the throughput the server gives it
  while serving the dashboard): fresh external_ids, 70% with a recent coupon/click/
  conversation key, every 20th event a refund of an earlier sale of the batch;
- dashboard: partner members signed in through /login/ with the CSRF token, reading what
  a partner watches (portal home, revenue with its chart, sales list this month and last,
  a statement, invoices, GET /api/v1/statements?period=…), 0.5–2 s think time.
Any non-2xx answer (or an ingested event rejected) is a failure; failures make the script
exit non-zero.

Figures: per endpoint, requests, failures, req/s and p50/p95/p99 as locust's CSV states
them (locust rounds a response time to 2 significant digits: exact to 1 ms below 100 ms,
to 10 ms below 1 s, to 100 ms below 10 s); per user class, the same from every request's
own time (recorded by the locustfile, 0.1 ms resolution). Throughput is over the measured
run time (locust's --run-time, which it keeps to about a second).

Raw PostgreSQL baselines, measured in the same run on the same machine:
- ingestion: the events/s against a raw COPY of the same rows (those the load run stored,
  with a new external_id) into the same 10M-row revenue_sale, all indexes and foreign keys,
  in a transaction rolled back afterwards — as ingest_http measures, minus the truncate;
- dashboard: each page's p95 under load against the time of *that page's own SQL*: the
  page is requested once through Django's test client, every query it sent is captured
  (session, user, selectors, everything) and replayed on a raw psycopg cursor, warm, with
  no load, no HTTP, no ORM and no template; the median of 5 replays. The ratio is then
  what serving the page under the mixed load costs over the database work it needs.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The page baselines are taken through Django's test client in this process.
os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,testserver"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.fixtures import (  # noqa: E402
    build_placements,
    generate_sales,
    generate_touchpoints,
    placements_table,
    reset_revenue_tables,
)
from benchmarks.load_pages import dashboard_requests  # noqa: E402
from benchmarks.processes import (  # noqa: E402
    BIN,
    free_port,
    start_server,
    start_worker,
    stop,
    timed,
    wait_http_ok,
    wait_worker_ready,
)
from contracts.models import Contract, Partner, PartnerMembership  # noqa: E402
from contracts.selectors import partner_today, period_start  # noqa: E402
from contracts.services import api_key_create  # noqa: E402
from core.models import User  # noqa: E402
from payments.services.invoicing import invoice_create, invoice_issue, invoice_mark_paid  # noqa: E402
from revenue.models import Sale, Statement  # noqa: E402
from revenue.selectors.reports import add_months  # noqa: E402
from revenue.services.attribution import attribution_run  # noqa: E402
from revenue.services.rollups import rollup_reconcile  # noqa: E402
from revenue.services.settlement import statement_approve, statement_submit, statements_compute  # noqa: E402

BATCH = 1_000
DASH_PLACEMENTS = 5
DASH_SHARE = 0.11  # of all sales: ≥ 1M at 10M
PASSWORD = "load-pass-2026"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile_mixed.py"
# The meta table marks a finished seeding: its scale, its months and the API key, which
# is shown only once at creation.
META = "bench_load_mixed_meta"


# --- seeding -----------------------------------------------------------------------------------


def _meta_read() -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [META])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT value FROM {META} WHERE key = 'seed'")
        row = cursor.fetchone()
    return None if row is None else (row[0] if isinstance(row[0], dict) else json.loads(row[0]))


def _meta_write(value: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {META}")
        cursor.execute(f"CREATE TABLE {META} (key text PRIMARY KEY, value jsonb NOT NULL)")
        cursor.execute(f"INSERT INTO {META} VALUES ('seed', %s::jsonb)", [json.dumps(value)])


def _generate(
    sales: int, months: int, others: list[tuple[int, int]], dash: list[tuple[int, int]], first: date, now: datetime
) -> None:
    """Sales spread evenly in time (so in id order, as they arrive) from the first month's
    start to now; each picks a touchpoint of its own day (70% carry its key); half of the
    keyed ones name a touchpoint 20 days away, outside the 14-day window."""
    weight = max(1, round(len(others) * DASH_SHARE / ((1 - DASH_SHARE) * len(dash))))
    placements_table(others + dash * weight)
    start = datetime.combine(first, datetime.min.time(), tzinfo=ZoneInfo("Asia/Tokyo"))
    span = int((now - start).total_seconds())
    days = span // 86400 + 1
    touchpoints = max(sales // 10, days)
    per_day = touchpoints // days
    origin = f"timestamptz '{start.isoformat()}'"
    generate_touchpoints(
        touchpoints,
        occurred_at=(
            f"{origin} + LEAST(g / {per_day}, {days - 1}) * interval '1 day' + (g % 36000) * interval '1 second'"
        ),
    )
    day = f"(g * {span} / {sales}) / 86400"
    generate_sales(
        sales,
        touchpoint=(
            f"(CASE WHEN g % 10 >= 5 THEN ({day} + 20) % {days} ELSE {day} END) * {per_day} + (g * 104729) % {per_day}"
        ),
        occurred_at=f"{origin} + (g * {span} / {sales}) * interval '1 second'",
        period="date_trunc('month', sale_at AT TIME ZONE 'Asia/Tokyo')::date",
    )


def _settle(partner: Partner, finance: User, approver: User, first: date, current: date) -> dict[str, int]:
    """The dashboard partner's statements through the real services, month by month:
    computed, then (all but the last closed month) submitted and approved, which settles and
    explains their sales and posts the ledger; older ones invoiced (manual provider) and paid."""
    contracts = list(Contract.objects.filter(placement__partner=partner).select_related("placement__partner"))
    counts = {"statements": 0, "approved": 0, "invoiced": 0, "paid": 0}
    period = first
    while period < current:
        with transaction.atomic():
            statements = statements_compute(contracts=contracts, period=period)
        counts["statements"] += len(statements)
        if period < add_months(current, -1):
            for statement in statements:
                statement = statement_submit(actor=finance, statement=statement)
                statement = statement_approve(actor=approver, statement=statement)
                counts["approved"] += 1
                if statement.payable <= 0:
                    continue
                invoice = invoice_issue(invoice_id=invoice_create(actor=finance, statement=statement).pk)
                counts["invoiced"] += 1
                if period < add_months(current, -2):
                    invoice_mark_paid(actor=finance, invoice=invoice, reference=f"bank {period:%Y-%m}")
                    counts["paid"] += 1
        period = add_months(period, 1)
    return counts


def seed(sales: int, months: int, placements: int) -> dict[str, Any]:
    reset_revenue_tables()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE core_auditlog, revenue_invoice, revenue_payout RESTART IDENTITY CASCADE")
    User.objects.filter(username__in=["load-owner", "load-finance", "load-finance-2"]).delete()
    now = timezone.now()
    current = period_start(now.astimezone(ZoneInfo("Asia/Tokyo")).date())
    first = add_months(current, -months)
    others = build_placements(placements - DASH_PLACEMENTS, effective_from=first.isoformat())
    dash = build_placements(
        DASH_PLACEMENTS, per_partner=DASH_PLACEMENTS, prefix="dash", effective_from=first.isoformat()
    )
    partner = Partner.objects.get(pk=dash[0][1])
    timed(
        f"generate {sales:,} sales and their touchpoints (set-based)",
        lambda: _generate(sales, months, others, dash, first, now),
    )
    _, result = timed(
        "attribute the dashboard partner's sales (as the worker does)",
        lambda: attribution_run(partner_ids=[partner.pk]),
    )
    owner = User.objects.create_user(username="load-owner", password=PASSWORD, role="partner")
    PartnerMembership.objects.create(user=owner, partner=partner, role="owner")
    finance = User.objects.create_user(username="load-finance", password=PASSWORD, role="finance")
    # Four eyes: the statements one finance user submits, another approves.
    approver = User.objects.create_user(username="load-finance-2", password=PASSWORD, role="finance")
    _, counts = timed(
        f"settle {months} months: statements, approvals, invoices",
        lambda: _settle(partner, finance, approver, first, current),
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE revenue_sale")
    key = api_key_create(actor=owner, partner=partner, name="load feed").secret
    meta = {
        "sales": sales,
        "months": months,
        "placements": placements,
        "current": current.isoformat(),
        "partner": partner.pk,
        "key": key,
        "attributed": result.attributed,
        **counts,
    }
    _meta_write(meta)
    return meta


def seeded(args: argparse.Namespace) -> dict[str, Any]:
    """Reuse the seeded data when asked and it matches (same scale, same current month);
    otherwise seed afresh."""
    meta = _meta_read() if args.reuse else None
    current = period_start(timezone.now().astimezone(ZoneInfo("Asia/Tokyo")).date()).isoformat()
    wanted = {"sales": args.sales, "months": args.months, "placements": args.placements, "current": current}
    if meta is not None and all(meta.get(k) == v for k, v in wanted.items()):
        # Only what earlier load runs ingested goes: one statement, refunds with their sales.
        _, deleted = timed(
            "--reuse: delete the sales earlier load runs ingested", lambda: _delete_ingested(meta["partner"])
        )
        print(f"  reusing the seeded data ({deleted:,} rows of earlier load runs deleted)")
        return meta
    if args.reuse:
        print("  --reuse: no seeded data of this scale and month here; seeding")
    _, meta = timed("seeding (not measured)", lambda: seed(args.sales, args.months, args.placements))
    return meta


def _delete_ingested(partner_id: int) -> int:
    # Refunds go in the same statement as their sales: the foreign key is checked at commit.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM revenue_sale WHERE partner_id = %s AND external_id LIKE 'load-%%'", [partner_id])
        deleted = cursor.rowcount
    # Deleted behind the services' back: the monthly roll-up gets their attribution back out.
    rollup_reconcile(partner_ids=[partner_id])
    return deleted


def locust_config(meta: dict[str, Any], run: str, samples: Path) -> dict[str, Any]:
    partner = Partner.objects.get(pk=meta["partner"])
    current = period_start(partner_today(partner=partner))
    since = timezone.now() - timedelta(days=10)
    keys = {kind: list(partner_touch_keys(partner.pk, kind, since)) for kind in ("coupon", "click", "conversation")}
    statements = list(
        Statement.objects.filter(contract__placement__partner=partner, status__in=("approved", "invoiced", "paid"))
        .order_by("-period")
        .values_list("pk", flat=True)[:20]
    )
    return {
        "key": meta["key"],
        "username": "load-owner",
        "password": PASSWORD,
        "run": run,
        "batch": BATCH,
        "period_start": datetime.combine(current, datetime.min.time(), tzinfo=ZoneInfo(partner.timezone)).isoformat(),
        "current_period": f"{current:%Y-%m}",
        "last_period": f"{add_months(current, -1):%Y-%m}",
        "statement_period": f"{add_months(current, -2):%Y-%m}",
        "statements": statements,
        "keys": keys,
        "samples": str(samples),
    }


def partner_touch_keys(partner_id: int, kind: str, since: datetime) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key FROM revenue_touchpoint WHERE partner_id = %s AND kind = %s AND occurred_at >= %s "
            "ORDER BY occurred_at DESC LIMIT 2000",
            [partner_id, kind, since],
        )
        return [row[0] for row in cursor.fetchall()]


# --- the load run ------------------------------------------------------------------------------


def run_locust(port: int, config_path: Path, csv_prefix: Path, args: argparse.Namespace) -> int:
    users = args.ingest_users + args.dashboard_users
    env = dict(
        os.environ,
        LOAD_MIXED_CONFIG=str(config_path),
        LOAD_INGEST_USERS=str(args.ingest_users),
        LOAD_DASHBOARD_USERS=str(args.dashboard_users),
    )
    command = [
        str(BIN / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "--run-time",
        f"{args.run_time}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    log = csv_prefix.with_suffix(".log")
    with open(log, "wb") as out:
        completed = subprocess.run(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=args.run_time + 180
        )
    if not Path(f"{csv_prefix}_stats.csv").exists():
        raise SystemExit(f"locust wrote no stats (exit {completed.returncode}):\n{log.read_text()[-4000:]}")
    return completed.returncode


def read_stats(csv_prefix: Path) -> list[dict[str, str]]:
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


# --- raw PostgreSQL baselines ------------------------------------------------------------------


def page_sql_floor(path: str, user: User, repeats: int = 5) -> tuple[float, int]:
    """(median ms, query count) of replaying the SQL the page sends, on a raw cursor."""
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} in the baseline capture")
    statements = [
        q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    raw = connection.connection  # the psycopg connection itself: no Django in the loop
    times = []
    for _ in range(repeats + 1):  # the first replay warms the cache like the load run did
        started = time.perf_counter()
        with raw.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql.encode())
                cursor.fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:]), len(statements)


SALE_COLUMNS = [f.column for f in Sale._meta.concrete_fields if f.column not in ("id", "external_id")]


def copy_baseline(partner_id: int, run: str) -> tuple[int, float]:
    """(rows, seconds) of a raw COPY of the rows the load run stored into revenue_sale, each
    under a new external_id, in a transaction rolled back afterwards."""
    columns = ", ".join(SALE_COLUMNS)
    select = (
        f"SELECT 'copy-' || external_id, {columns} FROM revenue_sale "
        f"WHERE partner_id = {int(partner_id)} AND external_id LIKE 'load-{run}-%' ORDER BY id"
    )
    with connection.cursor() as cursor, cursor.copy(f"COPY ({select}) TO STDOUT") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    elapsed = 0.0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            with cursor.copy(f"COPY revenue_sale (external_id, {columns}) FROM STDIN") as copy:
                for offset in range(0, len(data), 1 << 20):
                    copy.write(data[offset : offset + (1 << 20)])
            # The deferred foreign keys are checked at commit: check them now, inside the timing.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return data.count(b"\n"), elapsed


class _Rollback(Exception):
    """Leaves the baseline's transaction without keeping its rows."""


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=10_000_000)
    parser.add_argument("--months", type=int, default=11, help="closed months of history before this one")
    parser.add_argument("--placements", type=int, default=1_000)
    parser.add_argument("--reuse", action="store_true", help="keep seeded data of the same scale")
    parser.add_argument("--run-time", type=int, default=60, help="seconds of load")
    parser.add_argument("--ingest-users", type=int, default=2)
    parser.add_argument("--dashboard-users", type=int, default=10)
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / ".data" / "bench" / "load_mixed",
        help="folder for locust's CSV, the samples and the logs",
    )
    args = parser.parse_args()
    work: Path = args.work
    print(
        f"Mixed load: ingestion + partner dashboard, {args.sales:,} sales stored "
        f"(machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start)",
        flush=True,
    )
    timed("migrate", lambda: call_command("migrate", verbosity=0))
    manifest_storage = "Manifest" in settings.STORAGES["staticfiles"]["BACKEND"]
    if manifest_storage and not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        # DEBUG off serves static files by their manifest, as in production; collecting
        # (and compressing) takes minutes, so only when no earlier run or deploy did. (The
        # smoke test names the plain storage instead: no page it loads needs the files.)
        timed("collectstatic (no manifest yet)", lambda: call_command("collectstatic", interactive=False, verbosity=0))
    meta = seeded(args)
    stored = Sale.objects.count() if args.sales <= 1_000_000 else _estimate_rows()
    partner_rows = Sale.objects.filter(partner_id=meta["partner"]).count()
    print(
        f"  stored: {stored:,} sales ({'counted' if args.sales <= 1_000_000 else 'estimated'}); "
        f"dashboard partner {partner_rows:,} over {args.months} months + this one; "
        f"{meta['approved']} approved statements, {meta['invoiced']} invoices",
        flush=True,
    )

    work.mkdir(parents=True, exist_ok=True)
    run = timezone.now().strftime("%H%M%S")
    samples = work / f"samples-{run}.jsonl"
    config = locust_config(meta, run, samples)
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config))
    csv_prefix = work / f"locust-{run}"
    port = free_port()
    # Keep-alive longer than the dashboard's think time (2 s at most), as a proxy in front
    # would keep it: with gunicorn's default of 2 s a busy server closes a connection just as
    # a user reuses it, and the request dies with a reset a browser would silently retry.
    server = start_server(port, keep_alive=5)
    worker = start_worker(args.worker_concurrency, work / "worker.log")
    try:
        timed(
            "start gunicorn and the celery worker",
            lambda: (
                wait_http_ok(port, "/api/v1/me", {"Authorization": f"Bearer {meta['key']}"}, server),
                wait_worker_ready(worker, work / "worker.log"),
            ),
        )
        print(
            f"  gunicorn 2 workers × 4 threads (keep-alive 5 s) on 127.0.0.1:{port}, celery worker prefork "
            f"×{args.worker_concurrency}; locust: {args.ingest_users} ingestion + {args.dashboard_users} "
            f"dashboard users for {args.run_time} s",
            flush=True,
        )
        started = time.monotonic()
        code = run_locust(port, config_path, csv_prefix, args)
        duration = time.monotonic() - started
    finally:
        stop(server)
        stop(worker)
    return report(meta, config, csv_prefix, code, args, duration)


def _estimate_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'revenue_sale'")
        return cursor.fetchone()[0]


def report(
    meta: dict[str, Any], config: dict[str, Any], csv_prefix: Path, code: int, args: argparse.Namespace, wall: float
) -> int:
    run, samples_path = config["run"], Path(config["samples"])
    rows = read_stats(csv_prefix)
    samples = [json.loads(line) for line in samples_path.read_text().splitlines()] if samples_path.exists() else []
    seconds = float(args.run_time)
    print(
        f"\n  locust ran {wall:.1f} s wall (load for --run-time {args.run_time} s; rates below are per "
        f"{args.run_time} s). Percentiles per endpoint as locust's CSV states them (exact < 100 ms, "
        f"10 ms steps < 1 s, 100 ms steps < 10 s)"
    )
    header = f"  {'endpoint':<48} {'requests':>8} {'fail':>5} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    print(header)
    for row in rows:
        print(
            f"  {row['Name']:<48} {int(row['Request Count']):>8,} {int(row['Failure Count']):>5} "
            f"{int(row['Request Count']) / seconds:>7.2f} {row['50%']:>7} {row['95%']:>7} {row['99%']:>7}"
        )
    failures = sum(int(row["Failure Count"]) for row in rows)
    print("\n  per user class, from every request's own time (0.1 ms resolution):")
    print(header.replace("endpoint", "class   "))
    # Signing in is counted apart: its password hashing is deliberately slow, once per user.
    for cls in ("ingest", "dashboard", "login"):
        times = [s["ms"] for s in samples if s["cls"] == cls]
        failed = sum(1 for s in samples if s["cls"] == cls and not s["ok"])
        if not times:
            print(f"  {cls:<48} no requests")
            continue
        print(
            f"  {cls:<48} {len(times):>8,} {failed:>5} {len(times) / seconds:>7.2f} "
            f"{percentile(times, 50):>7.1f} {percentile(times, 95):>7.1f} {percentile(times, 99):>7.1f}"
        )

    # Ingestion: what was stored, against a raw COPY of the same rows.
    ingested = Sale.objects.filter(partner_id=meta["partner"], external_id__startswith=f"load-{run}-").count()
    ok_batches = sum(int(r["Request Count"]) - int(r["Failure Count"]) for r in rows if r["Name"].startswith("ingest"))
    # Counted from the batches locust saw answered 200; a batch in flight when locust
    # stopped may still have been stored (the difference to the stored count).
    events_rate = ok_batches * BATCH / seconds
    print(
        f"\n  ingestion: {ok_batches:,} batches of {BATCH:,} answered 200 = {events_rate:,.0f} events/s over "
        f"{args.run_time} s ({ingested:,} events stored)"
    )
    attributed = (
        Sale.objects.filter(partner_id=meta["partner"], external_id__startswith=f"load-{run}-", type="sale")
        .exclude(attribution="pending")
        .count()
    )
    sales_in = Sale.objects.filter(
        partner_id=meta["partner"], external_id__startswith=f"load-{run}-", type="sale"
    ).count()
    print(f"  worker: {attributed:,} of {sales_in:,} ingested sales attributed and explained when the load stopped")
    if ingested:
        copied, copy_seconds = copy_baseline(meta["partner"], run)
        copy_rate = copied / copy_seconds
        print(
            f"  raw COPY of the same {copied:,} rows into revenue_sale ({_estimate_rows():,} rows, all indexes, "
            f"rolled back): {copy_rate:,.0f} rows/s"
        )
        print(f"  ratio ingestion under mixed load / raw COPY: {events_rate / copy_rate:6.1%}")

    # Dashboard: each page's p95 under load against its own SQL replayed raw.
    print("\n  dashboard pages: p95 under load vs the page's own SQL replayed on a raw cursor (no load)")
    owner = User.objects.get(username="load-owner")
    by_name = {row["Name"]: row for row in rows}
    for name, path, _ in dashboard_requests(config):
        row = by_name.get(name)
        if row is None:
            continue
        floor, queries = page_sql_floor(path, owner)
        p95 = float(row["95%"])
        print(
            f"  {name:<48} p95 {p95:>7.0f} ms   SQL {floor:>8.1f} ms ({queries:>2} queries)   "
            f"ratio {p95 / floor:>6.1f}×"
        )
    print(f"\n  failures: {failures}; locust exit code {code} (finished {timezone.now():%H:%M:%S})")
    return 1 if failures or code not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
