"""Demo revenue for the run command: Rinna's coupons and this month's Hoshi Mart sales,
posted through the same ingestion services the API uses, attributed, and settled into a
draft statement for finance to review. Running it again changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from contracts.models import Partner, Placement
from contracts.selectors import partner_today, period_start
from revenue.models import SettlementRun, Touchpoint
from revenue.services.attribution import attribution_run
from revenue.services.ingestion import outcomes_ingest, sales_ingest, touchpoints_ingest
from revenue.services.settlement import settlement_run_execute


class Command(BaseCommand):
    help = "Load demo touchpoints, sales and a draft statement (idempotent; needs seed_demo first)."

    def handle(self, *args: Any, **options: Any) -> None:
        hoshi = Partner.objects.filter(slug="hoshi-mart").first()
        if hoshi is None:
            self.stdout.write("Run seed_demo first.")
            return
        if Touchpoint.objects.filter(partner=hoshi).exists():
            self.stdout.write("Demo revenue already loaded.")
            return
        rinna = Placement.objects.get(partner=hoshi, employee__slug="rinna")
        lumen_mei = Placement.objects.get(partner__slug="lumen", employee__slug="mei")
        now = timezone.now()
        start = period_start(partner_today(partner=hoshi))
        first = datetime(start.year, start.month, start.day, 9, tzinfo=now.tzinfo)
        # Spread the month so far, and never into the future (ingestion refuses that).
        span = max(now - first, timedelta(hours=2))

        def moment(fraction: float) -> str:
            return (first + span * fraction).isoformat()

        with transaction.atomic():
            coupons = [
                {"placement": rinna.pk, "kind": "coupon", "key": f"RINNA-{n:04d}", "occurred_at": moment(n / 400)}
                for n in range(1, 121)
            ]
            touchpoints_ingest(partner=hoshi, touchpoints=coupons)
            events = []
            for n in range(1, 901):
                code = f"RINNA-{n % 150 + 1:04d}"  # codes above 120 were never issued
                events.append(
                    {
                        "external_id": f"demo-pos-{n:05d}",
                        "type": "sale",
                        "occurred_at": moment(min(1.0, (n % 150 + 1) / 400 + n / 2000)),
                        "amount": 480 + (n % 9) * 120,
                        "currency": "JPY",
                        "coupon_code": code,
                        "store_id": f"tokyo-{n % 40:03d}",
                    }
                )
            sales_ingest(partner=hoshi, events=events)
            sales_ingest(
                partner=hoshi,
                events=[
                    {
                        "external_id": "demo-pos-00007-r",
                        "type": "refund",
                        "refund_of": "demo-pos-00007",
                        "occurred_at": moment(1.0),
                        "amount": 600,
                        "currency": "JPY",
                    }
                ],
            )
            outcomes_ingest(
                partner=lumen_mei.partner,
                outcomes=[
                    {
                        "placement": lumen_mei.pk,
                        "kind": "delivered_work",
                        "external_id": f"brief-{n}",
                        "occurred_at": moment(n / 4),
                    }
                    for n in (1, 2, 3)
                ],
            )
        attribution_run()
        run = SettlementRun.objects.create(period=start, trigger="command")
        settlement_run_execute(run_id=run.pk)
        self.stdout.write(self.style.SUCCESS("Demo revenue loaded."))
