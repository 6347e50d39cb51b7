"""Tax and credit notes on the screens and in the API: the tax profile in the console (finance
and the partner's account manager edit it) and the portal (read), tax on the invoice pages
and PDFs, the invoice's API representation, and credit notes through the API and the
console — with the manual provider (its own numbering), scoped, refusals changing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditLog
from ledger.models import JournalEntry
from ledger.selectors.balances import account_balance
from payments.models import CreditNote, Invoice, TaxProfile
from payments.selectors.stalled import stalled_payments
from payments.services.credit_notes import credit_note_issue, credit_note_send
from payments.services.invoicing import invoice_create, invoice_issue, invoice_mark_paid
from payments.services.tax import tax_profile_update
from tests.support.payments import connect_payees, october_statement, placement_with_coupons
from tests.support.snapshot import db_snapshot
from tests.support.world import api_as


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def jp_manual(world, settings):
    """Hoshi Mart, a Japanese business on the manual provider, with October invoiced."""
    settings.STRIPE_API_KEY = ""
    settings.PLATFORM_TAX_COUNTRY, settings.PLATFORM_TAX_REGISTRATION_NUMBER = "JP", "T1111111111111"
    connect_payees(None)
    statement = october_statement(world, placement_with_coupons(world))
    tax_profile_update(
        actor=world.finance, partner=world.hoshi, country="JP", registration_number="T2222222222222", treatment="auto"
    )
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    invoice.refresh_from_db()
    return invoice


# --- tax profile pages ------------------------------------------------------------------------------


def test_finance_edits_the_tax_profile_in_the_console(world):
    client = login(world.finance)
    url = f"/console/partners/{world.hoshi.pk}/tax/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"country": "de", "registration_number": "DE 123456789", "treatment": "auto"})
    assert (response.status_code, response["Location"]) == (302, url)
    profile = TaxProfile.objects.get(partner=world.hoshi)
    assert (profile.country, profile.registration_number, profile.treatment) == ("DE", "DE123456789", "auto")
    assert 'id="tax-treatment">reverse_charge<' in client.get(url).content.decode()


def test_the_partners_account_manager_edits_it_and_another_manager_cannot_see_it(world):
    url = f"/console/partners/{world.hoshi.pk}/tax/"
    data = {"country": "JP", "registration_number": "T1234567890123", "treatment": "auto"}
    assert login(world.hoshi_manager).post(url, data).status_code == 302
    before = db_snapshot(TaxProfile, AuditLog)
    assert login(world.wayfarer_manager).post(url, {**data, "treatment": "none"}).status_code == 404
    assert login(world.wayfarer_manager).get(url).status_code == 404
    assert login(world.hoshi_owner).post(url, {**data, "treatment": "none"}).status_code == 403
    assert db_snapshot(TaxProfile, AuditLog) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"country": "JP", "registration_number": "1234567890123", "treatment": "auto"}, "T followed by 13 digits"),
        ({"country": "DE", "registration_number": "FR123456789", "treatment": "auto"}, "country prefix (DE)"),
        ({"country": "J", "registration_number": "", "treatment": "auto"}, "two capital letters"),
        ({"country": "JP", "registration_number": "", "treatment": "zero"}, "not valid"),
    ],
)
def test_a_bad_tax_profile_is_refused_with_a_clear_error_and_nothing_changes(world, data, message):
    before = db_snapshot(TaxProfile, AuditLog)
    response = login(world.finance).post(f"/console/partners/{world.hoshi.pk}/tax/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert db_snapshot(TaxProfile, AuditLog) == before


def test_the_partner_reads_its_tax_profile_in_the_portal(world, settings):
    settings.PLATFORM_TAX_REGISTRATION_NUMBER = "T1111111111111"
    tax_profile_update(
        actor=world.finance, partner=world.hoshi, country="JP", registration_number="T2222222222222", treatment="auto"
    )
    own = login(world.hoshi_owner).get("/portal/tax/").content.decode()
    assert "T2222222222222" in own and "T1111111111111" in own and 'id="tax-treatment">domestic<' in own
    other = login(world.wayfarer_owner).get("/portal/tax/").content.decode()
    assert "T2222222222222" not in other


# --- invoice pages, PDF and API ---------------------------------------------------------------------


def test_tax_shows_on_the_invoice_pages_pdf_and_api(world, jp_manual):
    assert (jp_manual.subtotal, jp_manual.tax_amount, jp_manual.amount, jp_manual.number) == (
        300_000,
        30_000,
        330_000,
        f"HKN-{jp_manual.pk:06d}",
    )
    portal = login(world.hoshi_owner).get("/portal/invoices/").content.decode()
    assert "JPY 300,000" in portal and "JPY 30,000" in portal and "JPY 330,000" in portal and "JP 10%" in portal
    console = login(world.finance).get("/console/invoices/").content.decode()
    assert "JPY 30,000" in console and "JPY 330,000" in console
    pdf = login(world.hoshi_owner).get(f"/portal/invoices/{jp_manual.pk}.pdf")
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert login(world.finance).get(f"/console/invoices/{jp_manual.pk}.pdf").status_code == 200
    assert login(world.wayfarer_owner).get(f"/portal/invoices/{jp_manual.pk}.pdf").status_code == 404

    body = api_as(world.hoshi_owner).get(f"/api/v1/invoices/{jp_manual.pk}").json()
    assert {k: body[k] for k in ("subtotal", "tax_amount", "amount", "amount_due", "tax_treatment", "tax_point")} == {
        "subtotal": 300_000,
        "tax_amount": 30_000,
        "amount": 330_000,
        "amount_due": 330_000,
        "tax_treatment": "domestic",
        "tax_point": "2026-10-31",
    }
    assert body["tax_lines"] == [
        {"jurisdiction": "JP", "category": "standard", "rate": "0.1000", "taxable": 300_000, "tax": 30_000}
    ]
    assert (body["seller_registration_number"], body["buyer_registration_number"], body["credit_notes"]) == (
        "T1111111111111",
        "T2222222222222",
        [],
    )


def test_finance_credits_through_the_api_and_the_manual_provider_numbers_it(world, jp_manual):
    response = api_as(world.finance).post(
        f"/api/v1/invoices/{jp_manual.pk}/credit-notes",
        {"amount": 20_000, "reason": "Inquiry 3 accepted", "source": "inquiry:3"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    note = credit_note_send(credit_note_id=response.json()["id"])  # the task's work
    assert (note.number, note.subtotal, note.tax_amount, note.amount, note.kind) == (
        f"HKN-CN-{note.pk:06d}",
        20_000,
        2_000,
        22_000,
        "pre_payment",
    )
    # the same request again is the same note
    again = api_as(world.finance).post(
        f"/api/v1/invoices/{jp_manual.pk}/credit-notes",
        {"amount": 20_000, "reason": "Inquiry 3 accepted", "source": "inquiry:3"},
        format="json",
    )
    assert (again.status_code, again.json()["id"], CreditNote.objects.count()) == (202, note.pk, 1)
    body = api_as(world.hoshi_owner).get(f"/api/v1/invoices/{jp_manual.pk}").json()
    assert body["amount_due"] == 308_000
    assert [(n["number"], n["amount"], n["tax_amount"], n["status"]) for n in body["credit_notes"]] == [
        (note.number, 22_000, 2_000, "issued")
    ]
    assert f"credit note {note.number}" in login(world.hoshi_owner).get("/portal/invoices/").content.decode()
    # finance marks the rest paid: the receivable is cleared
    invoice_mark_paid(actor=world.finance, invoice=jp_manual)
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 0


@pytest.mark.parametrize(
    ("who", "data", "status"),
    [
        ("hoshi_owner", {"amount": 1_000, "reason": "x", "source": "s"}, 404),
        ("wayfarer_manager", {"amount": 1_000, "reason": "x", "source": "s"}, 404),
        ("finance", {"amount": 0, "reason": "x", "source": "s"}, 400),
        ("finance", {"amount": 300_001, "reason": "x", "source": "s"}, 400),
        ("finance", {"amount": 1_000, "reason": "", "source": "s"}, 400),
        ("finance", {"amount": "lots", "reason": "x", "source": "s"}, 400),
    ],
)
def test_a_refused_credit_note_request_changes_nothing(world, jp_manual, who, data, status):
    before = db_snapshot(CreditNote, Invoice, JournalEntry, AuditLog)
    response = api_as(getattr(world, who)).post(f"/api/v1/invoices/{jp_manual.pk}/credit-notes", data, format="json")
    assert response.status_code == status, response.content
    assert "error" in response.json()
    assert db_snapshot(CreditNote, Invoice, JournalEntry, AuditLog) == before


def test_the_partners_account_manager_may_credit_through_the_api(world, jp_manual):
    response = api_as(world.hoshi_manager).post(
        f"/api/v1/invoices/{jp_manual.pk}/credit-notes", {"amount": 1, "reason": "r", "source": "s"}, format="json"
    )
    assert (response.status_code, response.json()["tax_amount"]) == (202, 0)  # 0.1 yen of tax rounds down


def test_finance_issues_a_credit_note_from_the_console_once_per_form(world, jp_manual):
    client = login(world.finance)
    data = {"amount": "5000", "reason": "Goodwill", "nonce": "abc123"}
    assert client.post(f"/console/invoices/{jp_manual.pk}/credit-notes/", data).status_code == 302
    assert client.post(f"/console/invoices/{jp_manual.pk}/credit-notes/", data).status_code == 302
    [note] = CreditNote.objects.all()
    assert (note.subtotal, note.tax_amount, note.source, note.created_by) == (
        5_000,
        500,
        "console:abc123",
        world.finance,
    )
    before = db_snapshot(CreditNote, AuditLog)
    bad = client.post(f"/console/invoices/{jp_manual.pk}/credit-notes/", {"amount": "-3", "reason": "x"})
    assert bad.status_code == 400
    assert login(world.hoshi_manager).post(f"/console/invoices/{jp_manual.pk}/credit-notes/", data).status_code == 403
    assert db_snapshot(CreditNote, AuditLog) == before


def test_a_credit_note_whose_message_was_lost_is_found_by_the_sweep(world, jp_manual):
    note = credit_note_issue(actor=world.finance, invoice=jp_manual, amount=1_000, reason="x", source="inquiry:9")
    # then a draft nobody sends is found once it is old enough, and no longer once issued
    assert stalled_payments(older_than=timedelta(minutes=5)).credit_note_ids == []
    CreditNote.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert stalled_payments(older_than=timedelta(minutes=5)).credit_note_ids == [note.pk]
    credit_note_send(credit_note_id=note.pk)
    assert stalled_payments(older_than=timedelta(minutes=5)).credit_note_ids == []
