"""Sale events through the real web server and HTTP API, against a raw PostgreSQL COPY of
the same rows into the same table, in one run.

    python3 dev.py bench ingest_http [--events 200000] [--clients 4]

Starts the platform's web server (gunicorn, config.wsgi, 2 workers, DEBUG off) on a free
loopback port against the bench database; creates a partner, its API key and an active
placement with touchpoints; then posts the events in batches of 1,000 to POST /api/v1/sales
(`Authorization: Bearer …`) from a few client threads over keep-alive connections. The ingest
throttle is raised for the run (INGEST_RATE). Every 20th event refunds an earlier sale of its
batch; 70% of sales carry a coupon, click or conversation key the placement issued.

Baseline: the rows the API stored, copied out and COPY'd back into revenue_sale (truncated;
their keys stay claimed in revenue_salekey): the same rows, same partitioned table, same
indexes, foreign keys and triggers. Also shown: the same COPY into a
scratch `LIKE revenue_sale INCLUDING ALL` table (no foreign keys).
Targets (issue "Revenue engine"): HTTP ≥ 10,000 events/s and ≥ 10% of the raw COPY's rate.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.fixtures import build_placements, reset_revenue_tables  # noqa: E402
from benchmarks.processes import free_port, start_server, stop, timed, wait_http_ok  # noqa: E402
from contracts.models import Partner, PartnerMembership, Placement  # noqa: E402
from contracts.services import api_key_create  # noqa: E402
from core.models import User  # noqa: E402
from revenue.models import Sale, Touchpoint  # noqa: E402

BATCH = 1_000
TOUCHPOINTS = 20_000
START = datetime(2026, 10, 1, tzinfo=UTC) - timedelta(hours=9)  # 2026-10-01 00:00 in Tokyo
KEY_KINDS = ("coupon_code", "click_id", "conversation_id")
TOUCH_KINDS = {"coupon_code": "coupon", "click_id": "click", "conversation_id": "conversation"}
PREFIXES = {"coupon_code": "CPN", "click_id": "CLK", "conversation_id": "CNV"}


def setup(*, prefix: str = "bench") -> tuple[Partner, str]:
    """A partner with an owner, an API key, and an active placement with touchpoints;
    `prefix` names the partner, beside others a benchmark built (build_placements)."""
    placement_id, partner_id = build_placements(1, prefix=prefix)[0]
    partner = Partner.objects.get(pk=partner_id)
    owner, _ = User.objects.get_or_create(username="bench-owner", defaults={"role": "partner"})
    PartnerMembership.objects.update_or_create(user=owner, defaults={"partner": partner, "role": "owner"})
    issued = api_key_create(actor=owner, partner=partner, name="bench feed")
    placement = Placement.objects.get(pk=placement_id)
    Touchpoint.objects.bulk_create(
        Touchpoint(
            partner=partner,
            placement=placement,
            kind=TOUCH_KINDS[KEY_KINDS[i % 3]],
            key=f"{PREFIXES[KEY_KINDS[i % 3]]}-{i}",
            occurred_at=START,
            source="agent",
        )
        for i in range(TOUCHPOINTS)
    )
    return partner, issued.secret


def events(count: int) -> list[bytes]:
    """The request bodies: batches of 1,000 events, JSON-encoded once, before timing."""
    bodies = []
    for first in range(0, count, BATCH):
        batch = []
        for i in range(first, min(first + BATCH, count)):
            position = i - first
            target = i - 1 - (i * 7) % 18
            if i % 20 == 19 and position >= 19:
                batch.append(
                    {
                        "external_id": f"web-{i}",
                        "type": "refund",
                        "refund_of": f"web-{target}",
                        "occurred_at": (START + timedelta(seconds=2 * target, days=1)).isoformat(),
                        "amount": 100,
                        "currency": "JPY",
                    }
                )
                continue
            event = {
                "external_id": f"web-{i}",
                "type": "sale",
                "occurred_at": (START + timedelta(seconds=2 * i)).isoformat(),
                "amount": 100 + (i * 7919) % 50_000,
                "currency": "JPY",
                "customer_ref": f"c{i % 5000}",
                "store_id": f"store-{i % 300}",
            }
            if i % 10 < 7:
                touch = (i * 104729) % TOUCHPOINTS
                kind = KEY_KINDS[touch % 3]
                event[kind] = f"{PREFIXES[kind]}-{touch}"
            batch.append(event)
        bodies.append(json.dumps({"events": batch}, separators=(",", ":")).encode())
    return bodies


def post_all(port: int, secret: str, bodies: list[bytes], clients: int) -> int:
    """Post every body from `clients` threads, each on one keep-alive connection; return the
    number of events accepted."""
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    accepted = [0] * clients
    errors: list[str] = []

    def client(slot: int) -> None:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "Connection": "keep-alive"}
        while not errors:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            connection_.request("POST", "/api/v1/sales", body=body, headers=headers)
            response = connection_.getresponse()
            answer = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {answer[:300]!r}")
                break
            result = json.loads(answer)
            if result["rejected"]:
                errors.append(f"rejected: {result['rejected'][:3]}")
                break
            accepted[slot] += result["accepted"]
        connection_.close()

    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"ingestion failed: {errors[0]}")
    return sum(accepted)


SALE_COLUMNS = [field.column for field in Sale._meta.concrete_fields]


def copy_out() -> bytes:
    sql = f"COPY (SELECT {', '.join(SALE_COLUMNS)} FROM revenue_sale ORDER BY id) TO STDOUT"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        return b"".join(bytes(data) for data in copy)


def copy_in(table: str, data: bytes) -> int:
    sql = f"COPY {table} ({', '.join(SALE_COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(sql) as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def checkpoint() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4, choices=range(1, 9))
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(
        f"Ingestion over HTTP: {args.events:,} events in batches of {BATCH:,}, {args.clients} client threads, "
        f"gunicorn 2 workers (machine: {os.cpu_count()} cores)"
    )
    reset_revenue_tables()
    partner, secret = setup()
    _, bodies = timed("encode the request bodies (not measured)", lambda: events(args.events))
    port = free_port()
    server = start_server(port)
    try:
        wait_http_ok(port, "/api/v1/me", {"Authorization": f"Bearer {secret}"}, server)
        checkpoint()
        http_time, accepted = timed(
            "HTTP: POST /api/v1/sales, 1,000 events a request", lambda: post_all(port, secret, bodies, args.clients)
        )
    finally:
        stop(server)
    stored = Sale.objects.filter(partner=partner).count()
    print(f"  accepted {accepted:,}, stored {stored:,}")
    assert accepted == stored == args.events, (accepted, stored)

    data = copy_out()
    with connection.cursor() as cursor:
        # Their keys stay in revenue_salekey (migration 0017), claimed for the same ids, as the
        # API claims them before storing sales: the COPY's trigger finds each one.
        cursor.execute("TRUNCATE revenue_sale")
    checkpoint()
    copy_time, copied = timed(
        "baseline: raw COPY of the same rows into revenue_sale (truncated)", lambda: copy_in("revenue_sale", data)
    )
    assert copied == args.events
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE revenue_sale INCLUDING ALL) WITH (fillfactor = 80)")
    checkpoint()
    plain_time, _ = timed(
        "        raw COPY into LIKE revenue_sale INCLUDING ALL (no foreign keys)", lambda: copy_in("bench_copy", data)
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")

    http_rate, copy_rate, plain_rate = args.events / http_time, args.events / copy_time, args.events / plain_time
    print()
    print(f"  HTTP API                            {http_rate:12,.0f} events/s   (target ≥ 10,000)")
    print(f"  raw COPY into revenue_sale          {copy_rate:12,.0f} rows/s")
    print(f"  raw COPY, no foreign keys           {plain_rate:12,.0f} rows/s")
    print(f"  ratio to raw COPY into revenue_sale: {http_rate / copy_rate:6.1%}   (target ≥ 10%)")
    print(f"  ratio to raw COPY without foreign keys: {http_rate / plain_rate:6.1%}")
    print(f"  (finished {timezone.now():%H:%M:%S})")


if __name__ == "__main__":
    main()
