"""The ledger's tax and credit-note accounts: tax payable is a liability kept apart from
revenue, credit notes a revenue-side account of their own; the database refuses an
unbalanced tax entry whatever Python does."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from ledger.models import Account, JournalEntry, JournalLine
from ledger.selectors.balances import account_balance
from ledger.services.posting import Posting, account_kind_for, journal_entry_post
from tests.ledger.test_ledger import _raw_entry


def test_tax_payable_is_a_liability_and_credit_notes_sit_with_revenue():
    assert account_kind_for("tax_payable:JP") == Account.Kind.LIABILITY
    assert account_kind_for("credit_notes:hoshi-mart") == Account.Kind.REVENUE


def test_tax_on_an_invoice_then_a_credit_note_balances(db):
    journal_entry_post(
        idempotency_key="invoice:1:tax",
        memo="tax",
        occurred_on="2026-10-31",
        postings=[
            Posting("partner_receivable:hoshi-mart", 30_000, "JPY"),
            Posting("tax_payable:JP", -30_000, "JPY"),
        ],
    )
    journal_entry_post(
        idempotency_key="credit_note:1:issued",
        memo="credit note",
        occurred_on="2026-11-30",
        postings=[
            Posting("credit_notes:hoshi-mart", 10_005, "JPY"),
            Posting("tax_payable:JP", 1_000, "JPY"),
            Posting("partner_receivable:hoshi-mart", -11_005, "JPY"),
        ],
    )
    assert account_balance(code="tax_payable:JP", currency="JPY") == -29_000
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 18_995
    assert account_balance(code="credit_notes:hoshi-mart", currency="JPY") == 10_005


def test_the_database_refuses_an_unbalanced_tax_entry(db):
    receivable = Account.objects.create(code="partner_receivable:x", currency="JPY", kind="asset", name="r")
    tax = Account.objects.create(code="tax_payable:JP", currency="JPY", kind="liability", name="t")
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        _raw_entry([(receivable.pk, 30_000, "JPY"), (tax.pk, -29_999, "JPY")])
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == (0, 0)
