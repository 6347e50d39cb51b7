from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from revenue.services.rollups import rollup_rebuild


class Command(BaseCommand):
    help = "Reconcile the monthly revenue roll-up with the sales table, every month of every partner."

    def handle(self, *args: Any, **options: Any) -> None:
        result = rollup_rebuild()
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.groups} month groups compared, {result.corrected} corrected "
                f"(partners {result.partner_ids or 'none'})."
            )
        )
