from django.apps import AppConfig


class RevenueConfig(AppConfig):
    """Sale ingestion (API and CSV), touchpoints, attribution, rating and settlement into
    statements (DESIGN.md §5). Depends on contracts for placements and terms, and posts
    approved statements to the ledger."""

    name = "revenue"
