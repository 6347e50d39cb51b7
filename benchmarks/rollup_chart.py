"""The portal revenue page's chart before and after the monthly roll-up (issue 16), and what
keeping the roll-up costs the attribution pass, measured in pairs in one run.

    python3 dev.py bench rollup_chart [--sales 2000000] [--dash-share 0.5] [--months 11]
                                      [--repeats 30] [--batches 10] [--reuse]

Data: `--sales` sales (seeded set-based, as load_mixed seeds them) over the `--months`
closed months before this one and this month up to now, 70% carrying a touchpoint's key;
`--dash-share` of them belong to the dashboard partner (five employees hired), the rest to
other partners. The dashboard partner's sales are attributed by the real pass (which keeps
the roll-up as it goes), then reconciled: the reconciliation must find no drift.

Figures, each an alternating pair (before, after) one right after the other, warm:
- the chart's SQL: the selector as it was (attributed sales summed per month from the
  partial covering index sale_attributed_month, revenue migration 0011) against the
  selector reading the roll-up; each captured once through the ORM and replayed on a raw
  psycopg cursor (the raw PostgreSQL figure), median and p95 of `--repeats`;
- the whole page GET /portal/revenue/ through Django's test client (no HTTP server), with
  the old selector and the new one;
- the write path: attribution passes of `--batches` batches of 1,000 new pending sales
  (as ingestion hands them over), each run with the roll-up's upsert and without it, in a
  transaction rolled back, so both see the same rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,testserver"
# The page is rendered through the test client, not served: no collectstatic manifest needed.
os.environ.setdefault("DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage")

import django  # noqa: E402

django.setup()

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
from benchmarks.processes import timed  # noqa: E402
from contracts.models import Partner, PartnerMembership  # noqa: E402
from contracts.selectors import partners_visible, period_start  # noqa: E402
from core.charts import CHART_MONTHS  # noqa: E402
from core.models import User  # noqa: E402
from core.periods import add_months  # noqa: E402
from revenue.models import Sale, SaleMonthlyRollup  # noqa: E402
from revenue.selectors import reports  # noqa: E402
from revenue.services import attribution  # noqa: E402
from revenue.services.rollups import rollup_reconcile  # noqa: E402

DASH_PLACEMENTS = 5
TOKYO = ZoneInfo("Asia/Tokyo")


def chart_before(*, viewer: Any, period_from: date) -> list[dict[str, Any]]:
    """reports.attributed_revenue_by_employee as it was before the roll-up (revenue 0011)."""
    return reports.employee_revenue_rows(
        Sale.objects.filter(
            partner__in=partners_visible(viewer=viewer), type="sale", placement__isnull=False, period__gte=period_from
        )
    )


CHART_AFTER = reports.attributed_revenue_by_employee


def seed(sales: int, months: int, share: float, placements: int) -> tuple[Partner, User]:
    reset_revenue_tables()
    User.objects.filter(username="rollup-owner").delete()
    now = timezone.now()
    current = period_start(now.astimezone(TOKYO).date())
    first = add_months(current, -months)
    others = build_placements(placements - DASH_PLACEMENTS, effective_from=first.isoformat())
    dash = build_placements(
        DASH_PLACEMENTS, per_partner=DASH_PLACEMENTS, prefix="dash", effective_from=first.isoformat()
    )
    partner = Partner.objects.get(pk=dash[0][1])
    weight = max(1, round(len(others) * share / ((1 - share) * len(dash))))
    placements_table(others + dash * weight)
    start = datetime.combine(first, datetime.min.time(), tzinfo=TOKYO)
    span = int((now - start).total_seconds())
    days = span // 86400 + 1
    touchpoints = max(sales // 10, days)
    per_day = touchpoints // days
    origin = f"timestamptz '{start.isoformat()}'"

    def generate() -> None:
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
                f"(CASE WHEN g % 10 >= 5 THEN ({day} + 20) % {days} ELSE {day} END) * {per_day} "
                f"+ (g * 104729) % {per_day}"
            ),
            occurred_at=f"{origin} + (g * {span} / {sales}) * interval '1 second'",
            period="date_trunc('month', sale_at AT TIME ZONE 'Asia/Tokyo')::date",
        )

    timed(f"generate {sales:,} sales and their touchpoints (set-based)", generate)
    _, result = timed(
        "attribute the dashboard partner's sales (the pass keeps the roll-up)",
        lambda: attribution.attribution_run(partner_ids=[partner.pk]),
    )
    print(f"    {result.attributed:,} attributed, {result.unattributed:,} not")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE revenue_sale")
        cursor.execute("VACUUM ANALYZE revenue_salemonthlyrollup")
    owner = User.objects.create_user(username="rollup-owner", password="x", role="partner")
    PartnerMembership.objects.create(user=owner, partner=partner, role="owner")
    return partner, owner


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def captured_sql(action: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        action()
    return [q["sql"] for q in captured.captured_queries]


def replay(statements: list[str]) -> float:
    raw = connection.connection
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql.encode())
            cursor.fetchall()
    return (time.perf_counter() - started) * 1000


def pairs(label: str, before: Callable[[], Any], after: Callable[[], Any], repeats: int) -> None:
    """Alternate before and after, one right after the other, after a warm-up of each."""
    before(), after()
    times: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(repeats):
        for name, action in (("before", before), ("after", after)):
            started = time.perf_counter()
            action()
            times[name].append((time.perf_counter() - started) * 1000)
    b, a = times["before"], times["after"]
    print(
        f"  {label:<44} before median {statistics.median(b):9.2f} ms p95 {percentile(b, 95):9.2f} ms | "
        f"after median {statistics.median(a):7.2f} ms p95 {percentile(a, 95):7.2f} ms",
        flush=True,
    )


def page(owner: User, chart: Callable[..., list[dict[str, Any]]]) -> Callable[[], None]:
    client = Client()
    client.force_login(owner)

    def get() -> None:
        original = reports.attributed_revenue_by_employee
        reports.attributed_revenue_by_employee = chart
        try:
            response = client.get("/portal/revenue/")
        finally:
            reports.attributed_revenue_by_employee = original
        if response.status_code != 200:
            raise SystemExit(f"/portal/revenue/: {response.status_code}")

    return get


class _Rollback(Exception):
    pass


def write_pairs(partner: Partner, batches: int) -> None:
    """Attribution of 1,000-sale batches with and without the roll-up's upsert, each in a
    transaction rolled back: both runs decide the very same pending rows."""
    current = period_start(timezone.now().astimezone(TOKYO).date())
    with connection.cursor() as cursor:
        # Keys of the partner's touchpoints of this month, so the batch attributes as fresh sales do.
        cursor.execute(
            """
            INSERT INTO revenue_sale (partner_id, external_id, type, occurred_at, amount, currency, coupon_code,
                click_id, conversation_id, period, content_digest, received_at, attribution, attributed_key,
                attribution_note)
            SELECT t.partner_id, 'W' || row_number() OVER (), 'sale', t.occurred_at + interval '1 hour',
                   100 + t.id %% 5000, 'JPY',
                   CASE t.kind WHEN 'coupon' THEN t.key END, CASE t.kind WHEN 'click' THEN t.key END,
                   CASE t.kind WHEN 'conversation' THEN t.key END, %s, 'w', now(), 'pending', '', ''
              FROM (SELECT * FROM revenue_touchpoint WHERE partner_id = %s AND occurred_at < now() - interval '2 hours'
                     ORDER BY occurred_at DESC LIMIT %s) t
            RETURNING id
            """,
            [current, partner.pk, batches * 1000],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
        cursor.execute("ANALYZE revenue_sale")
    chunks = [ids[n : n + 1000] for n in range(0, len(ids), 1000)]
    original = attribution.rollup_apply_sql

    def run(chunk: list[int], with_rollup: bool) -> float:
        if not with_rollup:
            attribution.rollup_apply_sql = lambda moved: "SELECT 1"
        try:
            started = time.perf_counter()
            try:
                with transaction.atomic():
                    attribution.attribution_run(sale_ids=chunk)
                    elapsed = (time.perf_counter() - started) * 1000
                    raise _Rollback
            except _Rollback:
                pass
        finally:
            attribution.rollup_apply_sql = original
        return elapsed

    run(chunks[0], True), run(chunks[0], False)
    times: dict[bool, list[float]] = {True: [], False: []}
    for chunk in chunks:
        for with_rollup in (False, True):
            times[with_rollup].append(run(chunk, with_rollup))
    b, a = times[False], times[True]
    print(
        f"  {'attribution pass, 1,000-sale batch':<44} without   median {statistics.median(b):9.2f} ms "
        f"p95 {percentile(b, 95):9.2f} ms | with  median {statistics.median(a):7.2f} ms "
        f"p95 {percentile(a, 95):7.2f} ms",
        flush=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM revenue_sale WHERE id = ANY(%s)", [ids])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=2_000_000)
    parser.add_argument("--dash-share", type=float, default=0.5)
    parser.add_argument("--months", type=int, default=11)
    parser.add_argument("--placements", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run of the same scale")
    args = parser.parse_args()
    print(
        f"Revenue chart: sales table vs monthly roll-up, {args.sales:,} sales "
        f"(machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start)",
        flush=True,
    )
    timed("migrate", lambda: call_command("migrate", verbosity=0))
    owner_found = User.objects.filter(username="rollup-owner").first()
    if args.reuse and owner_found is not None and Sale.objects.count() == args.sales:
        owner = owner_found
        partner = PartnerMembership.objects.get(user=owner).partner
        print("  --reuse: the data of an earlier run at this scale")
    else:
        _, (partner, owner) = timed(
            "seeding (not measured)", lambda: seed(args.sales, args.months, args.dash_share, args.placements)
        )
    attributed = Sale.objects.filter(partner=partner, type="sale", placement__isnull=False).count()
    print(
        f"  stored: {Sale.objects.count():,} sales; dashboard partner "
        f"{Sale.objects.filter(partner=partner).count():,}, {attributed:,} attributed; "
        f"roll-up rows {SaleMonthlyRollup.objects.count():,}",
        flush=True,
    )
    _, result = timed(
        "reconcile the partner's roll-up (every month)", lambda: rollup_reconcile(partner_ids=[partner.pk])
    )
    print(f"    {result.groups} groups compared, {result.corrected} corrected (must be 0)")
    current = period_start(timezone.now().astimezone(TOKYO).date())
    period_from = add_months(current, -(CHART_MONTHS - 1))
    old = chart_before(viewer=owner, period_from=period_from)
    new = CHART_AFTER(viewer=owner, period_from=period_from)
    print(f"  chart rows: {len(new)}; identical before/after: {old == new}", flush=True)
    if old != new:
        return 1
    before_sql = captured_sql(lambda: chart_before(viewer=owner, period_from=period_from))
    after_sql = captured_sql(lambda: CHART_AFTER(viewer=owner, period_from=period_from))
    print(f"  load average before the pairs: {os.getloadavg()[0]:.2f}", flush=True)
    pairs("chart SQL on a raw cursor (PostgreSQL)", lambda: replay(before_sql), lambda: replay(after_sql), args.repeats)
    pairs(
        "chart selector through the ORM",
        lambda: chart_before(viewer=owner, period_from=period_from),
        lambda: CHART_AFTER(viewer=owner, period_from=period_from),
        args.repeats,
    )
    pairs("GET /portal/revenue/ (test client)", page(owner, chart_before), page(owner, CHART_AFTER), args.repeats)
    write_pairs(partner, args.batches)
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
