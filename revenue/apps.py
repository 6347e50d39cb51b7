from django.apps import AppConfig


class RevenueConfig(AppConfig):
    """Sale ingestion, touchpoints, attribution, rating, statements, ledger and payouts
    (DESIGN.md §4–5). Depends on contracts for placements and contract terms."""

    name = "revenue"
