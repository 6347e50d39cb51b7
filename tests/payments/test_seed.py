"""The run command's demo payments: payee settings and a manual invoice, through the
services; loading twice changes nothing."""

from io import StringIO

from django.core.management import call_command

from contracts.models import Payee
from payments.models import Invoice, ReconciliationRun
from tests.support.snapshot import db_snapshot


def test_demo_payments_make_an_open_manual_invoice_once(db, settings):
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
    assert ReconciliationRun.objects.get().mismatches == 0
    before = db_snapshot()
    out = StringIO()
    call_command("seed_demo_payments", stdout=out)
    assert out.getvalue() == "Demo payments already loaded.\n"
    assert db_snapshot() == before
