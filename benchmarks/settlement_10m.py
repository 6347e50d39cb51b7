"""Attribution + settlement of 10 million sales (1 million touchpoints, 1,000 placements)
against a plain `SUM … GROUP BY` over the same rows, on the same machine, in one run.

    python3 dev.py bench settlement_10m [--sales 10000000] [--touchpoints 1000000]

Uses its own database (haken_bench in .data/bench) and rebuilds the data each run.
Targets (issue 3): attribution + settlement ≤ 10× the plain aggregate and under 2 minutes.

Every sale starts pending, as if none had been attributed on arrival: the settlement run
attributes all of them inside its aggregates (the rule evaluated in SQL as it reads).
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
from benchmarks.fixtures import (  # noqa: E402
    build_placements,
    generate_sales,
    generate_touchpoints,
    placements_table,
    reset_revenue_tables,
)
from core.models import User  # noqa: E402
from revenue.models import Sale, SettlementRun, Statement  # noqa: E402
from revenue.services.attribution import attribution_run  # noqa: E402
from revenue.services.settlement import (  # noqa: E402
    settlement_run_execute,
    statement_approve,
    statement_submit,
)

PERIOD = "2026-10-01"


def timed(label: str, action):
    return processes.timed(label, action, width=52)


def generate(sales: int, touchpoints: int, placements: list[tuple[int, int]]) -> None:
    """Touchpoints spread over the placements; 70% of sales carry a touchpoint's key, a
    third of those outside the 14-day window; the rest carry none."""
    placements_table(placements)
    generate_touchpoints(touchpoints, occurred_at="timestamptz '2026-09-20 00:00+09' + (g % 40) * interval '1 day'")
    generate_sales(
        sales,
        touchpoint=f"(g * 104729) % {touchpoints}",
        occurred_at="timestamptz '2026-10-01 00:00+09' + (g % 2592000) * interval '1 second'",
        period=f"date '{PERIOD}'",
    )


def attribute_new_batch(size: int):
    """A fresh batch as ingestion hands it over: new pending sales, attributed by id."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO revenue_sale (partner_id, external_id, type, occurred_at, amount, currency, coupon_code,
                period, content_digest, received_at, attribution, attributed_key, attribution_note)
            SELECT t.partner_id, 'N' || t.id, 'sale', t.occurred_at + interval '1 hour', 1000, 'JPY', t.key,
                   date '{PERIOD}', md5(t.id::text), now(), 'pending', '', ''
              FROM revenue_touchpoint t WHERE t.kind = 'coupon' ORDER BY t.id LIMIT {size}
            RETURNING id""")
        ids = [row[0] for row in cursor.fetchall()]
    return attribution_run(sale_ids=ids)


def approve_one(world_user, approver) -> int:
    """Approve one contract's statement: settles its sales and writes their attribution."""
    statement = Statement.objects.filter(period=PERIOD).order_by("-net").first()
    statement_submit(actor=world_user, statement=statement)
    statement_approve(actor=approver, statement=statement)
    return Sale.objects.filter(statement=statement).count()


def plain_aggregate() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT partner_id, sum(amount) FROM revenue_sale GROUP BY partner_id")
        return len(cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=10_000_000)
    parser.add_argument("--touchpoints", type=int, default=1_000_000)
    parser.add_argument("--placements", type=int, default=1_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(
        f"Attribution + settlement: {args.sales:,} sales, {args.touchpoints:,} touchpoints, "
        f"{args.placements:,} placements (machine: {os.cpu_count()} cores)"
    )
    reset_revenue_tables()
    placements = build_placements(args.placements)
    timed("generate data (not measured against targets)", lambda: generate(args.sales, args.touchpoints, placements))

    plain_aggregate()  # the first scan warms the cache for both sides alike
    baseline, _ = timed("baseline: SELECT partner_id, sum(amount) GROUP BY", plain_aggregate)
    run = SettlementRun.objects.create(period=PERIOD, trigger="command")
    settle_time, run = timed(
        "attribution + settlement (every sale pending)", lambda: settlement_run_execute(run_id=run.pk)
    )
    statements = Statement.objects.filter(period=PERIOD).count()
    finance, _ = User.objects.get_or_create(username="bench-finance", defaults={"role": "finance"})
    # Four eyes: another finance user approves what bench-finance submitted.
    approver, _ = User.objects.get_or_create(username="bench-finance-2", defaults={"role": "finance"})
    _, settled = timed("approval of the largest statement (writes its sales)", lambda: approve_one(finance, approver))
    batch_time, batch = timed("explanations for one new 1,000-sale batch, by id", lambda: attribute_new_batch(1_000))
    print(
        f"  attributed {run.attributed:,} of {args.sales:,} sales to {statements:,} statements; "
        f"approval settled {settled:,} sales; batch: {batch.attributed} of 1,000 attributed"
    )
    print(
        f"\n  attribution + settlement: {settle_time:.2f} s = {settle_time / baseline:.1f}× "
        f"the plain aggregate (target ≤ 10×, < 120 s)"
    )
    print(
        f"  the per-sale explanations shown in the portal are written as sales arrive: "
        f"{batch_time * 1000:.0f} ms per 1,000-sale batch on the worker"
    )


if __name__ == "__main__":
    main()
