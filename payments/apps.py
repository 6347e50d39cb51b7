from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """Collecting from partners and paying payees (DESIGN.md §4, §5.5): payment providers,
    invoices, payouts, provider webhooks, reconciliation, PDF statements. Depends on revenue
    (statements) and ledger (postings)."""

    name = "payments"
