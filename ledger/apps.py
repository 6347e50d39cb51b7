from django.apps import AppConfig


class LedgerConfig(AppConfig):
    """The double-entry ledger (DESIGN.md §4): accounts, journal entries, balances, the
    database-enforced balance rules. Depends on core only; revenue and payments post to it."""

    name = "ledger"
