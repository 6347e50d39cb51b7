from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from revenue.models import SettlementRun, Statement
from revenue.services.settlement import settlement_run_execute


class Command(BaseCommand):
    help = "Attribute pending sales and compute every contract's statement for a period."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--period", required=True, help="YYYY-MM")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            year, month = (int(part) for part in options["period"].split("-"))
            period = date(year, month, 1)
        except ValueError as error:
            raise CommandError(f"--period must look like 2026-10; got {options['period']!r}.") from error
        # Runs in this process (no worker needed), under the same lock as the Celery task.
        run = SettlementRun.objects.create(period=period, trigger="command")
        run = settlement_run_execute(run_id=run.pk)
        drafts = Statement.objects.filter(period=period).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"{period:%Y-%m}: {run.attributed} sales attributed, {run.statements_written} statements "
                f"written over {run.contracts_total} contracts ({drafts} statements for the period)."
            )
        )
