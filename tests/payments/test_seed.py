"""The run command's demo payments: payee settings, Hoshi Mart's inquiries before approval,
a qualified invoice with a credit note, through the services; loading twice changes nothing."""

from io import StringIO

from django.core.management import call_command

from contracts.models import Payee
from payments.models import CreditNote, Invoice, ReconciliationRun
from revenue.models import Inquiry, SaleExclusion
from tests.support.snapshot import db_snapshot


def test_demo_payments_make_an_open_manual_invoice_once(tax_rates, settings):
    settings.STRIPE_API_KEY = ""
    settings.PLATFORM_TAX_REGISTRATION_NUMBER = "T1234567890123"  # as DEBUG has it for the demo
    for command in ("seed_demo", "seed_demo_revenue", "seed_demo_payments"):
        call_command(command, stdout=StringIO())
    [invoice] = Invoice.objects.all()
    assert (invoice.provider, invoice.status, invoice.partner.slug) == ("manual", "open", "hoshi-mart")
    assert invoice.statement.status == "invoiced"
    # a qualified invoice: 10% consumption tax on top of the statement's payable
    assert (invoice.tax_treatment, invoice.subtotal, invoice.tax_amount) == (
        "domestic",
        invoice.statement.payable,
        invoice.statement.payable // 10,
    )
    assert (
        Payee.objects.get(slug="studio-aoi").minimum_payout,
        Payee.objects.get(slug="kumo-resellers").hold_days,
    ) == (1_000, 7)
    # Hoshi Mart questioned two sales before approval: one excluded, one kept with the reason
    assert sorted(Inquiry.objects.values_list("reason", "status")) == [
        ("duplicate", "accepted"),
        ("not_our_customer", "rejected"),
    ]
    accepted = Inquiry.objects.get(status="accepted")
    assert SaleExclusion.objects.filter(sale=accepted.sale).count() == 1
    assert all(inquiry.resolution_note for inquiry in Inquiry.objects.all())
    # and a credit note of 1,200 + 10% lowers what is due; never a negative invoice
    [note] = CreditNote.objects.all()
    assert (note.invoice_id, note.status, note.subtotal, note.tax_amount, note.amount) == (
        invoice.pk,
        "issued",
        1_200,
        120,
        1_320,
    )
    assert invoice.amount_due == invoice.amount - 1_320
    assert ReconciliationRun.objects.get().mismatches == 0
    before = db_snapshot()
    out = StringIO()
    call_command("seed_demo_payments", stdout=out)
    assert out.getvalue() == "Demo payments already loaded.\n"
    assert db_snapshot() == before
