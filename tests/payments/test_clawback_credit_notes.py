"""The clawback of an invoiced statement becomes credit notes (docs/credit-notes.md), worked
through three months against the local Stripe server, to the yen: September and October
invoiced with 10% tax, November claws back refunds of sales of both. The November
statement is unchanged (DESIGN.md §5a); its invoice bills the clawback part again, and
credit notes on the September and October invoices give it back with its tax — so the
partner is charged once and credited once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.selectors.balances import account_balance
from payments.models import CreditNote, Invoice
from payments.services.credit_notes import credit_note_send
from payments.services.invoicing import invoice_create, invoice_issue
from payments.services.reconciliation import reconciliation_run_execute, reconciliation_run_request
from payments.services.tax import tax_profile_update
from payments.services.webhooks import webhook_event_process
from payments.tax import clawback_split
from revenue.models import Sale, Statement
from tests.support.payments import (
    NOV,
    OCT,
    connect_payees,
    invoice_event,
    partner_pays,
    placement_with_coupons,
    settle_and_approve,
)
from tests.support.revenue import at, sale, touch

SEP = OCT.replace(month=9)


@given(
    st.lists(
        st.integers(min_value=0, max_value=10**15).map(lambda n: Decimal(n) / 10**6),
        min_size=1,
        max_size=8,
    )
)
def test_a_rounded_clawback_splits_by_largest_remainder_of_the_precise_parts(parts):
    total = int(sum(parts).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    split = clawback_split(total, parts)
    assert sum(split) == total
    assert all(abs(Decimal(s) - p) < 1 for s, p in zip(split, parts, strict=True))
    assert all(s >= 0 for s in split)


def test_the_split_gives_the_unit_left_to_the_largest_remainder_ties_to_the_first():
    assert clawback_split(77_667, [Decimal("56000"), Decimal("21666.645")]) == [56_000, 21_667]
    assert clawback_split(1, [Decimal("0.5"), Decimal("0.5")]) == [1, 0]
    with pytest.raises(ValueError):
        clawback_split(5, [Decimal("1.2"), Decimal("1.2")])


def pay(server, invoice: Invoice) -> None:
    partner_pays(server, invoice)
    webhook_event_process(event=invoice_event(server, invoice.provider_invoice_id, "invoice.paid"))


def issue(world, statement: Statement) -> Invoice:
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    invoice.refresh_from_db()
    return invoice


@pytest.fixture
def three_months(world, local_stripe, settings):
    settings.PLATFORM_TAX_COUNTRY, settings.PLATFORM_TAX_REGISTRATION_NUMBER = "JP", "T1111111111111"
    connect_payees(local_stripe)
    tax_profile_update(
        actor=world.finance, partner=world.hoshi, country="JP", registration_number="T2222222222222", treatment="auto"
    )
    placement = placement_with_coupons(world)
    touch(placement, "coupon", "S1", at(9, 2, 9))
    # September: 2,000,000 of sales, share 130,000 (rate 0.065) raised to the 300,000 minimum
    sale(world.hoshi, at(9, 10), 2_000_000, coupon_code="S1", external_id="sep-1")
    september = settle_and_approve(world, SEP)
    # October: 5,000,000 of sales, share 280,000 (rate 0.056) raised to 300,000
    for n, amount in enumerate([3_000_000, 1_500_000, 400_000, 100_000], start=1):
        sale(world.hoshi, at(10, 10 + n), amount, coupon_code=f"C{n}", external_id=f"oct-{n}")
    october = settle_and_approve(world, OCT)
    return september, october


def test_a_clawback_over_two_invoiced_months_is_credited_once_to_the_yen(world, local_stripe, three_months):
    september, october = three_months
    assert (september.payable, october.payable) == (300_000, 300_000)
    assert (september.effective_rate, october.effective_rate) == (Decimal("0.065"), Decimal("0.056"))
    sep_invoice, oct_invoice = issue(world, september), issue(world, october)
    assert (sep_invoice.amount, oct_invoice.amount) == (330_000, 330_000)
    pay(local_stripe, sep_invoice)  # September is paid before the refunds; October is still open

    # when November carries refunds of a September and an October sale
    sale(world.hoshi, at(11, 3), 333_333, refund_of=Sale.objects.get(external_id="sep-1"), external_id="sep-1-r")
    sale(world.hoshi, at(11, 4), 1_000_000, refund_of=Sale.objects.get(external_id="oct-1"), external_id="oct-1-r")
    november = settle_and_approve(world, NOV)

    # then the November statement is as §5a has it: 333,333 × 0.065 + 1,000,000 × 0.056
    # = 77,666.645 → 77,667 clawed back from the 300,000 minimum
    assert (november.wage, november.clawback, november.payable) == (300_000, 77_667, 222_333)

    # when November is invoiced
    nov_invoice = issue(world, november)

    # then two credit notes give the clawback back on the original invoices, split by
    # largest remainder (56,000 + 21,666.645 → 56,000 + 21,667), each with its tax rounded down
    notes = {n.invoice_id: n for n in CreditNote.objects.all()}
    for note in notes.values():
        credit_note_send(credit_note_id=note.pk)
    sep_note, oct_note = (CreditNote.objects.get(pk=notes[i.pk].pk) for i in (sep_invoice, oct_invoice))
    assert (sep_note.subtotal, sep_note.tax_amount, sep_note.amount, sep_note.kind) == (
        21_667,
        2_166,
        23_833,
        "post_payment",
    )
    assert (oct_note.subtotal, oct_note.tax_amount, oct_note.amount, oct_note.kind) == (
        56_000,
        5_600,
        61_600,
        "pre_payment",
    )
    # and November's invoice bills its payable plus the part credited there: 222,333 + 77,667
    assert (nov_invoice.clawback_credited, nov_invoice.subtotal, nov_invoice.tax_amount, nov_invoice.amount) == (
        77_667,
        300_000,
        30_000,
        330_000,
    )
    # and Stripe agrees on each document
    stripe = local_stripe.client.v1
    assert stripe.invoices.retrieve(nov_invoice.provider_invoice_id).total == 330_000
    assert stripe.invoices.retrieve(oct_invoice.provider_invoice_id).amount_due == 330_000 - 61_600
    assert stripe.credit_notes.retrieve(sep_note.provider_credit_note_id).total == 23_833

    # when the partner pays what is due
    oct_invoice.refresh_from_db()
    pay(local_stripe, oct_invoice)
    pay(local_stripe, nov_invoice)

    # then over the three months it paid 330,000 + 268,400 + 330,000 and is owed back the
    # September note (out of band): 904,567 net
    paid = sum(
        stripe.invoices.retrieve(i.provider_invoice_id).amount_paid for i in (sep_invoice, oct_invoice, nov_invoice)
    )
    assert paid == 330_000 + 268_400 + 330_000
    assert paid - sep_note.amount == 904_567
    # which is the three statements' payables (300,000 + 300,000 + 222,333 = 822,333) plus
    # the tax of the documents: 3 × 30,000 − 2,166 − 5,600 = 82,234 (one yen more than 10%
    # of 822,333 rounded down, since each document rounds its own tax once)
    assert september.payable + october.payable + november.payable == 822_333
    assert 3 * 30_000 - sep_note.tax_amount - oct_note.tax_amount == 82_234 == paid - sep_note.amount - 822_333
    # and the ledger: receivable owes the partner the September note, the tax office gets
    # 82,234, the credit notes account nets to zero (the clawback's effect is in November's
    # statement and its split)
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == -23_833
    assert account_balance(code="tax_payable:JP", currency="JPY") == -82_234
    assert account_balance(code="credit_notes:hoshi-mart", currency="JPY") == 0
    run = reconciliation_run_execute(run_id=reconciliation_run_request(actor=world.finance).pk)
    assert run.mismatches == 0, list(run.items.values_list("kind", "message"))

    # and invoicing November again changes nothing
    assert invoice_create(actor=world.finance, statement=november).pk == nov_invoice.pk
    assert CreditNote.objects.count() == 2


def test_a_clawback_on_a_statement_with_nothing_payable_stays_netted_and_carried(world, local_stripe, three_months):
    september, october = three_months
    issue(world, september), issue(world, october)
    # when November's refund claws back more than its minimum wage
    sale(world.hoshi, at(11, 4), 2_999_999, refund_of=Sale.objects.get(external_id="oct-1"), external_id="oct-1-r")
    sale(world.hoshi, at(11, 5), 1_500_000, refund_of=Sale.objects.get(external_id="oct-2"), external_id="oct-2-r")
    sale(world.hoshi, at(11, 6), 2_000_000, refund_of=Sale.objects.get(external_id="sep-1"), external_id="sep-1-r")
    november = settle_and_approve(world, NOV)
    # then the statement is closed with a credit carried forward, as today, and no credit
    # note is issued: nothing of November is invoiced, so nothing would bill the credited
    # part again — the carried credit is the only way it is given back
    assert (november.status, november.payable) == ("closed", 0)
    assert november.credit_carried_forward == november.clawback - november.wage > 0
    assert CreditNote.objects.count() == 0
