"""Demo payments for the run command, through the services: payees' payment settings,
the partners' tax profiles, Hoshi Mart's demo statement approved and invoiced (with 10%
consumption tax) (manual provider when no Stripe key is
set, so finance can "Mark paid" it in the console), and a first reconciliation. Running it
again changes nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from contracts.models import Partner, Payee, PaymentProvider
from contracts.services import payee_payment_settings_update
from core.errors import ApplicationError
from core.models import User
from payments.models import Invoice
from payments.services.invoicing import invoice_create, invoice_issue
from payments.services.reconciliation import reconciliation_run_execute, reconciliation_run_request
from payments.services.tax import tax_profile_update
from revenue.models import Statement
from revenue.services.settlement import statement_approve, statement_submit

PAYEES = {
    "studio-aoi": {"minimum_payout": 1_000, "hold_days": 0, "email": "payouts@studio-aoi.example"},
    "kumo-resellers": {"minimum_payout": 5_000, "hold_days": 7, "email": "finance@kumo.example"},
}


TAX_PROFILES = [("hoshi-mart", "JP", "T7010001000000"), ("wayfarer", "US", ""), ("lumen", "US", "")]


class Command(BaseCommand):
    help = "Load demo payment settings and an invoice (idempotent; needs seed_demo_revenue first)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Invoice.objects.exists():
            self.stdout.write("Demo payments already loaded.")
            return
        finance = User.objects.filter(username="finance-ito").first()
        # Four eyes: finance-ito sends the statement to review, finance-mori approves it.
        approver = User.objects.filter(username="finance-mori").first() or finance
        statement = (
            Statement.objects.filter(
                contract__placement__partner__slug="hoshi-mart", contract__placement__employee__slug="rinna"
            )
            .order_by("-period")
            .first()
        )
        if finance is None or statement is None:
            self.stdout.write("Run seed_demo and seed_demo_revenue first.")
            return
        for slug, values in PAYEES.items():
            payee = Payee.objects.filter(slug=slug).first()
            if payee is not None:
                payee_payment_settings_update(
                    actor=finance, payee=payee, payment_provider=PaymentProvider.DEFAULT, **values
                )
        # Tax profiles: Hoshi Mart is a Japanese business (a qualified invoice with 10%
        # consumption tax), the US partners are outside the scope.
        # Without the platform's own registration number (it has a test value only with
        # DJANGO_DEBUG) a domestic invoice is refused: the demo then invoices without tax.
        for slug, country, number in TAX_PROFILES if settings.PLATFORM_TAX_REGISTRATION_NUMBER else []:
            partner = Partner.objects.filter(slug=slug).first()
            if partner is not None:
                tax_profile_update(
                    actor=finance, partner=partner, country=country, registration_number=number, treatment="auto"
                )
        try:
            if statement.status == Statement.Status.DRAFT:
                statement = statement_submit(actor=finance, statement=statement)
            if statement.status == Statement.Status.IN_REVIEW:
                statement = statement_approve(actor=approver, statement=statement)
            invoice = invoice_issue(invoice_id=invoice_create(actor=finance, statement=statement).pk)
            self.stdout.write(f"Invoice #{invoice.pk} ({invoice.provider}, {invoice.status}) for {statement}.")
        except ApplicationError as error:
            self.stdout.write(f"Demo invoice skipped: {error.message}")
        reconciliation_run_execute(run_id=reconciliation_run_request(actor=finance).pk)
        self.stdout.write(self.style.SUCCESS("Demo payments loaded."))
