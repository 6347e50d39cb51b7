"""Demo payments for the run command, through the services: payees' payment settings,
the partners' tax profiles, Hoshi Mart's demo statement questioned by the partner before it is approved (one inquiry
accepted, one rejected), approved and invoiced with 10% consumption tax (manual provider
when no Stripe key is set, so finance can "Mark paid" it in the console), a credit note on
that invoice, Hoshi Mart's webhook endpoint (with DEBUG, pointed at the run command's
stand-in receiver) getting each of these events, and a first reconciliation. Running it
again changes nothing."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from contracts.models import Partner, Payee, PaymentProvider
from contracts.services import payee_payment_settings_update
from core.errors import ApplicationError
from core.models import User
from payments.models import Invoice
from payments.services.credit_notes import credit_note_issue, credit_note_send
from payments.services.invoicing import invoice_create, invoice_issue
from payments.services.reconciliation import reconciliation_run_execute, reconciliation_run_request
from payments.services.tax import tax_profile_update
from revenue.models import Sale, Statement
from revenue.services.inquiries import inquiry_comment, inquiry_open, inquiry_resolve
from revenue.services.settlement import statement_approve, statement_submit
from webhooks.models import EventType
from webhooks.services import webhook_endpoint_create

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
        hoshi = statement.contract.placement.partner
        owner = User.objects.filter(username="hoshi-owner").first()
        clerk = User.objects.filter(username="hoshi-clerk").first() or owner
        if settings.DEBUG and owner is not None:
            # The run command's own stand-in receiver checks each delivery's signature.
            port = os.environ.get("PORT", "8000")
            webhook_endpoint_create(
                actor=owner,
                partner=hoshi,
                url=f"http://127.0.0.1:{port}/dev/webhook-receiver/",
                event_types=[choice.value for choice in EventType],
                description="POSシステム（デモ）",
            )
        try:
            if statement.status == Statement.Status.DRAFT:
                statement = statement_submit(actor=finance, statement=statement)
            if statement.status == Statement.Status.IN_REVIEW and clerk is not None and owner is not None:
                self._inquiries(finance=finance, clerk=clerk, owner=owner, statement=statement)
                statement.refresh_from_db()
            if statement.status == Statement.Status.IN_REVIEW:
                statement = statement_approve(actor=approver, statement=statement)
            invoice = invoice_issue(invoice_id=invoice_create(actor=finance, statement=statement).pk)
            self.stdout.write(f"Invoice #{invoice.pk} ({invoice.provider}, {invoice.status}) for {statement}.")
            # A double scan at one store found after invoicing: a credit note, never a
            # negative invoice.
            note = credit_note_issue(
                actor=finance,
                invoice=invoice,
                amount=1_200,
                reason="店舗 tokyo-007 でクーポンが二重に読み取られていました（請求後に判明）。",
                source="demo:tokyo-007-double-scan",
            )
            note = credit_note_send(credit_note_id=note.pk)
            self.stdout.write(f"Credit note #{note.pk} ({note.status}) on invoice #{invoice.pk}.")
        except ApplicationError as error:
            self.stdout.write(f"Demo invoice skipped: {error.message}")
        reconciliation_run_execute(run_id=reconciliation_run_request(actor=finance).pk)
        self.stdout.write(self.style.SUCCESS("Demo payments loaded."))

    def _inquiries(self, *, finance: User, clerk: User, owner: User, statement: Statement) -> None:
        """Hoshi Mart questions two of the sales counted before the statement is approved:
        a receipt the till sent twice (accepted: the sale is excluded and the statement
        re-rated) and a shopper it says came for a flyer (rejected, with the reason)."""
        counted = Sale.objects.filter(
            partner=statement.contract.placement.partner,
            placement=statement.contract.placement,
            period=statement.period,
            type=Sale.Type.SALE,
        ).order_by("external_id")
        duplicate, flyer = counted[:2]
        first = inquiry_open(
            actor=clerk,
            statement=statement,
            reason="duplicate",
            comment="同じレシートがPOSから2回送信されています。店舗の控えを確認済みです。",
            sale=duplicate,
        )
        inquiry_comment(actor=finance, inquiry=first, body="POSの送信ログで重複を確認しました。除外します。")
        inquiry_resolve(
            actor=finance, inquiry=first, decision="accept", note="重複送信のため、この売上を除外しました。"
        )
        second = inquiry_open(
            actor=owner,
            statement=statement,
            reason="not_our_customer",
            comment="このお客様はチラシを見て来店したと聞いています。",
            sale=flyer,
        )
        inquiry_resolve(
            actor=finance,
            inquiry=second,
            decision="reject",
            note="レシートにRinnaが発行したクーポンコードが記録されているため、帰属は正しいと判断しました。",
        )
