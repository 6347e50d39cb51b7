"""Tax end to end against the local Stripe server: a Japanese partner's statement invoiced
with 10% consumption tax (the PDF, the Stripe invoice and the ledger agree to the yen), an
EU partner under reverse charge, a US one without tax; credit notes issued in Stripe
(before and after payment) and posted."""

from __future__ import annotations

import re
import zlib

import pytest

from core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from core.models import AuditLog
from ledger.models import JournalEntry, JournalLine
from ledger.selectors.balances import account_balance
from payments.models import CreditNote, Invoice
from payments.pdf import invoice_pdf
from payments.services.credit_notes import credit_note_issue, credit_note_send
from payments.services.invoicing import invoice_create, invoice_issue
from payments.services.reconciliation import reconciliation_run_execute, reconciliation_run_request
from payments.services.tax import tax_profile_update
from payments.services.webhooks import webhook_event_process
from tests.support.payments import (
    connect_payees,
    invoice_event,
    october_statement,
    partner_pays,
    placement_with_coupons,
)
from tests.support.snapshot import db_snapshot

OUR_NUMBER = "T1111111111111"


def pdf_texts(data: bytes) -> list[str]:
    """The strings the PDF draws, in order (fpdf2 writes `(text) Tj` in deflated streams)."""
    texts = []
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(stream.group(1))
        except zlib.error:
            continue
        texts += [
            t.decode("latin-1").replace("\\(", "(").replace("\\)", ")") for t in re.findall(rb"\((.*?)\) Tj", content)
        ]
    return texts


def pdf_figure(texts: list[str], label: str) -> str:
    """The figure printed right after `label` in the PDF's table (the next cells)."""
    index = texts.index(label)
    return next(t for t in texts[index + 1 :] if t.startswith("JPY "))


@pytest.fixture
def taxed(world, local_stripe, settings):
    settings.PLATFORM_TAX_COUNTRY, settings.PLATFORM_TAX_REGISTRATION_NUMBER = "JP", OUR_NUMBER
    connect_payees(local_stripe)
    return october_statement(world, placement_with_coupons(world))


def profile(world, country: str, number: str = "") -> None:
    tax_profile_update(
        actor=world.finance, partner=world.hoshi, country=country, registration_number=number, treatment="auto"
    )


def issue(world, statement) -> Invoice:
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    invoice.refresh_from_db()
    return invoice


def test_a_japanese_partner_gets_a_qualified_invoice_pdf_stripe_and_ledger_agree(world, local_stripe, taxed):
    # given Hoshi Mart is a Japanese business
    profile(world, "JP", "T2222222222222")

    # when its approved October statement (300,000 payable) is invoiced
    invoice = issue(world, taxed)

    # then 10% consumption tax is added on top: 300,000 + 30,000
    taxed.refresh_from_db()
    assert (taxed.payable, invoice.subtotal, invoice.tax_amount, invoice.amount) == (300_000, 300_000, 30_000, 330_000)
    assert invoice.tax_breakdown == [
        {"jurisdiction": "JP", "category": "standard", "rate": "0.1000", "taxable": 300_000, "tax": 30_000}
    ]
    assert (invoice.tax_treatment, str(invoice.tax_point), invoice.seller_registration_number) == (
        "domestic",
        "2026-10-31",
        OUR_NUMBER,
    )
    # and Stripe's invoice totals the same, the tax as its own item
    remote = local_stripe.client.v1.invoices.retrieve(invoice.provider_invoice_id)
    assert (remote.total, remote.amount_due, remote.status) == (330_000, 330_000, "open")
    assert sorted((item.metadata["kind"], item.amount) for item in remote.lines.data) == sorted(
        [("attributed_sales", 0), ("share", 280_000), ("minimum_top_up", 20_000), ("tax", 30_000)]
    )
    # and the qualified-invoice PDF prints the same figures
    texts = pdf_texts(invoice_pdf(invoice=invoice, platform_name="Haken"))
    assert f"Issuer registration number: {OUR_NUMBER}" in texts
    assert "Billed to: Hoshi Mart (registration number T2222222222222)" in texts
    assert texts.count("JP 10% (standard)") == 2  # the rate on each billed line
    assert pdf_figure(texts, "Subtotal (before tax)") == "JPY 300,000"
    assert pdf_figure(texts, "Taxable at JP 10% (standard)") == "JPY 300,000"
    assert pdf_figure(texts, "Tax at JP 10% (standard)") == "JPY 30,000"
    assert pdf_figure(texts, "Total (tax included)") == f"JPY {remote.total:,}" == "JPY 330,000"
    # and the ledger keeps the tax apart from revenue
    assert [(line.account.code, line.amount) for line in invoice.tax_entry.lines.select_related("account")] == [
        ("partner_receivable:hoshi-mart", 30_000),
        ("tax_payable:JP", -30_000),
    ]
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 330_000

    # when the partner pays Stripe's invoice
    partner_pays(local_stripe, invoice)
    webhook_event_process(event=invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid"))

    # then the whole receivable is cleared and the tax stays owed to the tax office
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 0
    assert account_balance(code="cash:stripe", currency="JPY") == 330_000
    assert account_balance(code="tax_payable:JP", currency="JPY") == -30_000
    run = reconciliation_run_execute(run_id=reconciliation_run_request(actor=world.finance).pk)
    assert run.mismatches == 0, list(run.items.values_list("kind", "message"))


def test_an_eu_business_is_invoiced_under_reverse_charge(world, local_stripe, taxed):
    profile(world, "DE", "DE123456789")
    invoice = issue(world, taxed)
    remote = local_stripe.client.v1.invoices.retrieve(invoice.provider_invoice_id)
    assert (invoice.tax_treatment, invoice.tax_amount, invoice.amount, remote.total) == (
        "reverse_charge",
        0,
        300_000,
        300_000,
    )
    assert invoice.tax_note == (
        "Reverse charge: VAT to be accounted for by the recipient, Art. 196 Directive 2006/112/EC"
    )
    assert "tax" not in {item.metadata["kind"] for item in remote.lines.data}
    assert invoice.tax_entry is None
    texts = pdf_texts(invoice_pdf(invoice=invoice, platform_name="Haken"))
    assert invoice.tax_note in " ".join(texts)
    assert pdf_figure(texts, "Total (tax included)") == "JPY 300,000"


def test_a_us_partner_gets_no_tax_line(world, local_stripe, taxed):
    profile(world, "US")
    invoice = issue(world, taxed)
    remote = local_stripe.client.v1.invoices.retrieve(invoice.provider_invoice_id)
    assert (invoice.tax_treatment, invoice.tax_breakdown, invoice.amount, remote.total) == (
        "none",
        [],
        300_000,
        300_000,
    )
    texts = pdf_texts(invoice_pdf(invoice=invoice, platform_name="Haken"))
    assert not any(t.startswith("Tax at") for t in texts)


# --- credit notes -----------------------------------------------------------------------------------


@pytest.fixture
def jp_invoice(world, local_stripe, taxed):
    profile(world, "JP", "T2222222222222")
    return issue(world, taxed)


def test_a_credit_note_before_payment_lowers_what_is_due_everywhere(world, local_stripe, jp_invoice):
    # when finance credits 10,005 of the invoice (a correction agreed with the partner)
    note = credit_note_issue(
        actor=world.finance, invoice=jp_invoice, amount=10_005, reason="Inquiry accepted", source="inquiry:7"
    )
    note = credit_note_send(credit_note_id=note.pk)

    # then the note carries the tax reduction, rounded down once: 1,000.5 → 1,000
    assert (note.status, note.kind, note.subtotal, note.tax_amount, note.amount) == (
        "issued",
        "pre_payment",
        10_005,
        1_000,
        11_005,
    )
    # and Stripe has the same note on the invoice, which is due 330,000 − 11,005
    remote_note = local_stripe.client.v1.credit_notes.retrieve(note.provider_credit_note_id)
    remote = local_stripe.client.v1.invoices.retrieve(jp_invoice.provider_invoice_id)
    assert (remote_note.total, remote_note.invoice, remote_note.type, note.number) == (
        11_005,
        jp_invoice.provider_invoice_id,
        "pre_payment",
        remote_note.number,
    )
    assert (remote.total, remote.amount_due) == (330_000, 318_995)
    jp_invoice.refresh_from_db()
    assert jp_invoice.amount_due == 318_995
    # and the ledger reverses the receivable, tax part apart
    assert sorted((line.account.code, line.amount) for line in note.journal_entry.lines.select_related("account")) == [
        ("credit_notes:hoshi-mart", 10_005),
        ("partner_receivable:hoshi-mart", -11_005),
        ("tax_payable:JP", 1_000),
    ]
    assert account_balance(code="tax_payable:JP", currency="JPY") == -29_000
    # and the PDF shows it
    texts = pdf_texts(invoice_pdf(invoice=jp_invoice, platform_name="Haken"))
    assert pdf_figure(texts, "Tax reduction at JP 10% (standard)") == "JPY 1,000"
    assert pdf_figure(texts, "Amount due after credit notes") == "JPY 318,995"

    # when the partner pays what is due
    assert partner_pays(local_stripe, jp_invoice)["amount_paid"] == 318_995
    webhook_event_process(event=invoice_event(local_stripe, jp_invoice.provider_invoice_id, "invoice.paid"))

    # then nothing is left owed, and reconciliation agrees
    jp_invoice.refresh_from_db()
    assert jp_invoice.status == "paid"
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 0
    assert account_balance(code="cash:stripe", currency="JPY") == 318_995
    run = reconciliation_run_execute(run_id=reconciliation_run_request(actor=world.finance).pk)
    assert run.mismatches == 0, list(run.items.values_list("kind", "message"))


def test_a_credit_note_after_payment_is_owed_back_out_of_band(world, local_stripe, jp_invoice):
    partner_pays(local_stripe, jp_invoice)
    webhook_event_process(event=invoice_event(local_stripe, jp_invoice.provider_invoice_id, "invoice.paid"))
    note = credit_note_send(
        credit_note_id=credit_note_issue(
            actor=None, invoice=jp_invoice, amount=50_000, reason="Clawback", source="clawback:test"
        ).pk
    )
    remote_note = local_stripe.client.v1.credit_notes.retrieve(note.provider_credit_note_id)
    assert (note.kind, note.amount, remote_note.type, remote_note.total, remote_note.out_of_band_amount) == (
        "post_payment",
        55_000,
        "post_payment",
        55_000,
        55_000,
    )
    # the partner is owed 55,000 back; Stripe's customer balance is untouched
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == -55_000
    customer = local_stripe.client.v1.customers.retrieve(
        local_stripe.client.v1.invoices.retrieve(jp_invoice.provider_invoice_id).customer
    )
    assert customer.account_balance == 0  # localstripe names Stripe's `balance` by its old name
    run = reconciliation_run_execute(run_id=reconciliation_run_request(actor=world.finance).pk)
    assert run.mismatches == 0, list(run.items.values_list("kind", "message"))


def test_a_credit_note_is_idempotent_per_source(world, local_stripe, jp_invoice):
    first = credit_note_issue(actor=world.finance, invoice=jp_invoice, amount=1_000, reason="x", source="inquiry:1")
    credit_note_send(credit_note_id=first.pk)
    credit_note_send(credit_note_id=first.pk)
    again = credit_note_issue(actor=world.finance, invoice=jp_invoice, amount=1_000, reason="x", source="inquiry:1")
    assert again.pk == first.pk
    assert CreditNote.objects.count() == 1
    assert len(local_stripe.client.v1.credit_notes.list(params={"invoice": jp_invoice.provider_invoice_id}).data) == 1
    assert JournalEntry.objects.filter(idempotency_key=f"credit_note:{first.pk}:issued").count() == 1


@pytest.mark.parametrize(
    ("who", "arguments", "error"),
    [
        ("hoshi_owner", {}, PermissionDenied),
        ("wayfarer_manager", {}, PermissionDenied),
        ("finance", {"amount": 0}, ValidationFailed),
        ("finance", {"amount": -5}, ValidationFailed),
        ("finance", {"amount": 300_001}, ValidationFailed),  # more than the invoice billed before tax
        ("finance", {"reason": " "}, ValidationFailed),
        ("finance", {"source": ""}, ValidationFailed),
        ("finance", {"source": "inquiry:1", "amount": 2_000}, Conflict),  # same source, other amount
    ],
)
def test_a_refused_credit_note_changes_nothing(world, local_stripe, jp_invoice, who, arguments, error):
    credit_note_issue(actor=world.finance, invoice=jp_invoice, amount=1_000, reason="x", source="inquiry:1")
    before = db_snapshot(CreditNote, Invoice, JournalEntry, JournalLine, AuditLog)
    values = {"amount": 500, "reason": "Correction", "source": "inquiry:2", **arguments}
    with pytest.raises(error):
        credit_note_issue(actor=getattr(world, who), invoice=jp_invoice, **values)
    assert db_snapshot(CreditNote, Invoice, JournalEntry, JournalLine, AuditLog) == before


def test_a_draft_invoice_cannot_be_credited(world, local_stripe, taxed):
    profile(world, "JP")
    invoice = invoice_create(actor=world.finance, statement=taxed)
    before = db_snapshot(CreditNote, AuditLog)
    with pytest.raises(InvalidTransition):
        credit_note_issue(actor=world.finance, invoice=invoice, amount=1, reason="x", source="s")
    assert db_snapshot(CreditNote, AuditLog) == before
