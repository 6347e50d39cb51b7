"""Payment screens: finance console (invoices, payout runs, payees, reconciliation, CSV
exports, PDF statements) and the partner portal's invoices — scoped, CSRF-protected,
and refusing changes that are not theirs to make."""

from __future__ import annotations

import pytest
from django.test import Client

from contracts.models import Payee
from payments.models import Invoice, PayoutRun, ReconciliationRun
from payments.services.invoicing import invoice_create, invoice_issue, invoice_payment_failed_record
from tests.support.factories import PayeeFactory
from tests.support.payments import (
    connect_payees,
    db_state,
    october_statement,
    placement_with_coupons,
)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manual(world, settings):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    return october_statement(world, placement_with_coupons(world))


def test_finance_issues_and_marks_a_manual_invoice_paid_from_the_console(world, manual):
    finance = login(world.finance)
    page = finance.get("/console/invoices/")
    assert page.status_code == 200
    assert f"/console/statements/{manual.pk}/invoice/" in page.content.decode()

    assert finance.post(f"/console/statements/{manual.pk}/invoice/").status_code == 302
    invoice = invoice_issue(invoice_id=Invoice.objects.get(statement=manual).pk)  # the task's work
    page = finance.get("/console/invoices/").content.decode()
    assert "Mark paid" in page and "JPY 300,000" in page

    response = finance.post(f"/console/invoices/{invoice.pk}/mark-paid/", {"reference": "MUFG 991"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    # marking it again is refused with the page and a 409, and nothing changes
    before = db_state()
    again = finance.post(f"/console/invoices/{invoice.pk}/mark-paid/", {})
    assert again.status_code == 409
    assert "already paid" in again.content.decode()
    assert db_state() == before


def test_partners_and_managers_cannot_use_the_payment_console(world, manual):
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=manual).pk)
    before = db_state()
    for user in (world.hoshi_owner, world.hoshi_manager):
        client = login(user)
        for url in ("/console/invoices/", "/console/payouts/", "/console/payees/", "/console/reconciliation/"):
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(f"/console/invoices/{invoice.pk}/mark-paid/").status_code == 403
        assert client.post("/console/payouts/").status_code == 403
    assert db_state() == before
    assert PayoutRun.objects.count() == 0


def test_the_portal_shows_a_partner_its_own_invoices_and_a_failed_payment(world, manual):
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=manual).pk)
    invoice_payment_failed_record(
        invoice=Invoice.objects.select_related("statement__contract").get(pk=invoice.pk),
        message="The payment was declined.",
        failed_at=invoice.issued_at,
    )
    page = login(world.hoshi_owner).get("/portal/invoices/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Payment failed" in body and "The payment was declined." in body and "JPY 300,000" in body
    other = login(world.wayfarer_owner).get("/portal/invoices/").content.decode()
    assert "JPY 300,000" not in other and "No invoices yet." in other


def test_pdf_statements_per_partner_and_period_are_scoped(world, manual):
    own = login(world.hoshi_owner).get("/portal/statements/2026-10.pdf")
    assert (own.status_code, own["Content-Type"]) == (200, "application/pdf")
    assert own.content.startswith(b"%PDF")
    console = login(world.finance).get(f"/console/partners/{world.hoshi.pk}/statements/2026-10.pdf")
    assert console.status_code == 200 and console.content.startswith(b"%PDF")
    # another partner, or a period with no settled statement: 404
    assert login(world.wayfarer_owner).get("/portal/statements/2026-10.pdf").status_code == 404
    assert login(world.finance).get(f"/console/partners/{world.hoshi.pk}/statements/2026-09.pdf").status_code == 404
    assert login(world.finance).get(f"/console/partners/{world.hoshi.pk}/statements/nope.pdf").status_code == 404


def test_a_payout_run_from_the_console_and_its_progress_row(world, manual):
    finance = login(world.finance)
    assert finance.post("/console/payouts/", {"as_of": "2027-01-31"}).status_code == 302
    run = PayoutRun.objects.get()
    assert (run.status, run.as_of.date().isoformat(), run.requested_by) == ("queued", "2027-02-01", world.finance)
    row = finance.get(f"/console/payouts/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and 'hx-trigger="every 2s"' in row.content.decode()
    assert finance.post("/console/payouts/", {"as_of": "not a date"}).status_code == 400
    assert PayoutRun.objects.count() == 1


def test_payee_settings_are_saved_and_bad_ones_change_nothing(world, manual):
    finance = login(world.finance)
    reseller = Payee.objects.get(slug="reseller-kumo")
    page = finance.get("/console/payees/").content.decode()
    assert "Kumo Resale" in page and "JPY 120,000" in page  # owed: its share of the approved statement
    prefix = f"payee-{reseller.pk}"
    response = finance.post(
        f"/console/payees/{reseller.pk}/settings/",
        {
            f"{prefix}-payment_provider": "manual",
            f"{prefix}-minimum_payout": "5000",
            f"{prefix}-hold_days": "14",
            f"{prefix}-email": "pay@kumo.example",
        },
    )
    assert response.status_code == 302
    reseller.refresh_from_db()
    assert (reseller.minimum_payout, reseller.hold_days, reseller.email) == (5000, 14, "pay@kumo.example")
    bad = finance.post(
        f"/console/payees/{reseller.pk}/settings/",
        {f"{prefix}-payment_provider": "manual", f"{prefix}-minimum_payout": "-1", f"{prefix}-hold_days": "14"},
    )
    assert bad.status_code == 400
    reseller.refresh_from_db()
    assert reseller.minimum_payout == 5000
    platform = Payee.objects.get(slug="platform")
    assert finance.post(f"/console/payees/{platform.pk}/settings/", {}).status_code == 404


def test_reconciliation_from_the_console_and_the_csv_exports(world, manual):
    finance = login(world.finance)
    assert finance.post("/console/reconciliation/").status_code == 302
    assert ReconciliationRun.objects.count() == 1
    assert finance.get("/console/reconciliation/").status_code == 200
    invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=manual).pk)
    for url, header in (
        ("/console/invoices/export.csv", "invoice,number,partner"),
        ("/console/payouts/export.csv", "payout,run,payee"),
        ("/console/reconciliation/export.csv", "run,kind,reference"),
    ):
        response = finance.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv"), url
        assert b"".join(response.streaming_content).decode().startswith(header), url


def test_console_forms_need_the_csrf_token(world, manual):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.finance)
    assert client.post(f"/console/statements/{manual.pk}/invoice/").status_code == 403
    assert Invoice.objects.count() == 0


def test_the_invoices_api_is_scoped_to_the_partner(world, manual):
    from rest_framework.test import APIClient

    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=manual).pk)
    own = APIClient()
    own.force_login(world.hoshi_owner)
    [row] = own.get("/api/v1/invoices").json()["results"]
    assert (row["id"], row["status"], row["amount"], row["currency"], row["period"], row["provider"]) == (
        invoice.pk,
        "open",
        300_000,
        "JPY",
        "2026-10",
        "manual",
    )
    other = APIClient()
    other.force_login(world.wayfarer_owner)
    assert other.get("/api/v1/invoices").json()["results"] == []
    response = other.get(f"/api/v1/invoices/{invoice.pk}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_finance_invoices_and_runs_payouts_over_the_api(world, manual):
    from rest_framework.test import APIClient

    partner = APIClient()
    partner.force_login(world.hoshi_owner)
    before = db_state()
    refused = partner.post("/api/v1/invoices", {"statement": manual.pk}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert partner.post("/api/v1/payout-runs", {}, format="json").status_code == 403
    assert db_state() == before

    finance = APIClient()
    finance.force_login(world.finance)
    created = finance.post("/api/v1/invoices", {"statement": manual.pk}, format="json")
    assert (created.status_code, created.json()["status"], created.json()["amount"]) == (202, "draft", 300_000)
    again = finance.post("/api/v1/invoices", {"statement": manual.pk}, format="json")
    assert again.json()["id"] == created.json()["id"]
    bad = finance.post("/api/v1/invoices", {"statement": "x"}, format="json")
    assert (bad.status_code, list(bad.json()["error"]["fields"])) == (400, ["statement"])

    run = finance.post("/api/v1/payout-runs", {"as_of": "2027-01-01T00:00:00Z"}, format="json")
    assert (run.status_code, run.json()["status"], run.json()["as_of"]) == (202, "queued", "2027-01-01T00:00:00Z")
    assert finance.get(f"/api/v1/payout-runs/{run.json()['id']}").json()["progress_percent"] == 0
    assert partner.get(f"/api/v1/payout-runs/{run.json()['id']}").status_code == 404


def test_the_statement_page_offers_the_invoice_and_then_shows_it(world, manual):
    finance = login(world.finance)
    page = finance.get(f"/console/statements/{manual.pk}/").content.decode()
    assert f'action="/console/statements/{manual.pk}/invoice/"' in page
    assert f"/console/partners/{world.hoshi.pk}/statements/2026-10.pdf" in page
    invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=manual).pk)
    page = finance.get(f"/console/statements/{manual.pk}/").content.decode()
    assert f'action="/console/statements/{manual.pk}/invoice/"' not in page
    assert "badge badge-open" in page


def test_the_portal_statement_page_shows_its_invoice_status(world, manual):
    invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=manual).pk)
    page = login(world.hoshi_owner).get(f"/portal/statements/{manual.pk}/").content.decode()
    assert "badge badge-open" in page and "/portal/statements/2026-10.pdf" in page


def test_onboarding_from_the_console_redirects_to_stripe(world, local_stripe):
    studio = Payee.objects.get(slug="studio-aoi")
    studio.payment_provider = "stripe"
    studio.save()
    response = login(world.finance).post(f"/console/payees/{studio.pk}/onboard/")
    studio.refresh_from_db()
    assert (response.status_code, response["Location"]) == (
        302,
        f"{local_stripe.url}/connect/onboarding/{studio.stripe_account_id}",
    )
    # a manual payee has no onboarding: refused with the page, nothing changes
    reseller = PayeeFactory(slug="reseller-kumo", kind="reseller", payment_provider="manual")
    refused = login(world.finance).post(f"/console/payees/{reseller.pk}/onboard/")
    assert refused.status_code == 409
    reseller.refresh_from_db()
    assert reseller.stripe_account_id == ""


def test_the_webhook_endpoint_takes_only_post(db):
    assert Client().get("/webhooks/stripe/").status_code == 405
