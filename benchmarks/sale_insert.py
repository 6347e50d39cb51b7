"""One INSERT of N sales into the partitioned revenue_sale, as the benchmarks' data generation
and a raw load do it, after the sales' key triggers were planned for a statement of one sale
(issue 16: the 3M-row generation of the cost curve stalled on a plan kept that way).

    python3 dev.py bench sale_insert [--sales 1000000] [--keys first|none] [--no-prime] [--explain]

`--keys first` claims the sales' keys in revenue_salekey before inserting them (as
benchmarks.fixtures.generate_sales and ingestion do: the trigger finds every key claimed);
`--keys none` inserts them without (the trigger claims each: the ORM, COPY, a raw load). By
default one sale is inserted first in the same session, so the triggers' plans are made for
one row and a nearly empty key table and kept for the big statement, the case that could go
quadratic under migration 0017; `--no-prime` lets the big statement make them. Whether 0017's
plan for one sale probed the key table by partner alone (the quadratic one) depended on the
statistics of revenue_salekey left from earlier runs (a TRUNCATE keeps them): with none, as in
a fresh database, it did (tests/revenue/test_sale_key_trigger_plans.py); with a previous run's,
often not. Migration 0018's plans do not depend on them. `--explain`
logs the plans of the statements over 0.7 s, the triggers' included (auto_explain: a contrib
module the embedded server of dev.py lacks; use a PostgreSQL that has it via DATABASE_URL).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from benchmarks import processes  # noqa: E402
from benchmarks.fixtures import build_placements, generate_sales, placements_table, reset_revenue_tables  # noqa: E402

PLACEMENTS = 1_000
PERIOD = "2026-10-01"


def prime() -> None:
    """One sale, its key not claimed: the triggers plan their statements now."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO revenue_sale (partner_id, external_id, type, occurred_at, amount, currency, period,
                content_digest, received_at, attribution, attributed_key, attribution_note)
            SELECT partner_id, 'prime', 'sale', timestamptz '{PERIOD} 12:00+09', 100, 'JPY', date '{PERIOD}',
                   'x', now(), 'pending', '', ''
              FROM bench_placements LIMIT 1""")


def insert_unclaimed(count: int) -> None:
    """`count` sales in one statement, their keys left to the trigger."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO revenue_sale (partner_id, external_id, type, occurred_at, amount, currency, period,
                content_digest, received_at, attribution, attributed_key, attribution_note)
            SELECT bp.partner_id, 'S' || g, 'sale',
                   timestamptz '{PERIOD} 00:00+09' + (g % 2592000) * interval '1 second', 100 + (g * 7919) % 50000,
                   'JPY', date '{PERIOD}', md5(g::text), now(), 'pending', '', ''
              FROM generate_series(0::bigint, {count - 1}) g
              JOIN bench_placements bp ON bp.n = g % {PLACEMENTS}""")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--keys", choices=["first", "none"], default="first")
    parser.add_argument("--no-prime", dest="prime", action="store_false")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    primed = "planned for one sale first" if args.prime else "planned by the statement itself"
    print(f"One INSERT of {args.sales:,} sales, keys {args.keys}, the key triggers {primed}")
    reset_revenue_tables()
    placements_table(build_placements(PLACEMENTS))
    if args.explain:
        connection.ensure_connection()
        connection.connection.add_notice_handler(lambda notice: print("  [plan]", notice.message_primary))
        with connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
            cursor.execute("SET auto_explain.log_nested_statements = on")
            cursor.execute("SET auto_explain.log_min_duration = 700")
            cursor.execute("SET client_min_messages = log")
    if args.prime:
        prime()
    if args.keys == "first":
        action = lambda: generate_sales(  # noqa: E731
            args.sales,
            touchpoint="g",
            occurred_at=f"timestamptz '{PERIOD} 00:00+09' + (g % 2592000) * interval '1 second'",
            period=f"date '{PERIOD}'",
        )
    else:
        action = lambda: insert_unclaimed(args.sales)  # noqa: E731
    elapsed, _ = processes.timed(f"{args.sales:,} sales in one INSERT (keys {args.keys})", action)
    print(f"\n  {args.sales / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
