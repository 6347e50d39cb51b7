"""The double-entry ledger: balanced, append-only, idempotent — enforced by the database."""

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from core.errors import ValidationFailed
from ledger.models import Account, JournalEntry, JournalLine
from ledger.selectors.balances import account_balance, trial_balance
from ledger.services.posting import Posting, journal_entry_post, journal_entry_reverse

DAY = date(2026, 10, 31)


def _approval(key: str = "statement:1:approved") -> JournalEntry:
    # Statement approved: Dr partner receivable; Cr each payee payable; Cr platform revenue.
    return journal_entry_post(
        idempotency_key=key,
        memo="October statement, Hoshi Mart × Rinna",
        occurred_on=DAY,
        postings=[
            Posting("partner_receivable:hoshi-mart", 300000, "JPY"),
            Posting("platform_revenue", -210000, "JPY"),
            Posting("payee_payable:studio-aoi", -90000, "JPY"),
        ],
    )


def test_posting_a_statement_approval_moves_balances(db):
    entry = _approval()
    assert entry.lines.count() == 3
    assert account_balance(code="partner_receivable:hoshi-mart", currency="JPY") == 300000
    assert account_balance(code="payee_payable:studio-aoi", currency="JPY") == -90000
    assert account_balance(code="platform_revenue", currency="JPY") == -210000
    [jpy] = trial_balance()
    assert (jpy.currency, jpy.total_debits, jpy.total_credits, jpy.balanced) == ("JPY", 300000, 300000, True)
    assert Account.objects.get(code="payee_payable:studio-aoi").kind == "liability"


def test_posting_the_same_key_twice_posts_once(db):
    first = _approval()
    again = _approval()
    assert again.pk == first.pk
    assert JournalEntry.objects.count() == 1
    assert JournalLine.objects.count() == 3


def test_an_unbalanced_entry_is_refused_before_the_database(db):
    with pytest.raises(ValidationFailed, match="does not balance"):
        journal_entry_post(
            idempotency_key="bad",
            memo="bad",
            occurred_on=DAY,
            postings=[
                Posting("partner_receivable:hoshi-mart", 1000, "JPY"),
                Posting("platform_revenue", -999, "JPY"),
            ],
        )
    assert (JournalEntry.objects.count(), JournalLine.objects.count(), Account.objects.count()) == (0, 0, 0)


def test_balancing_across_currencies_is_not_balancing(db):
    with pytest.raises(ValidationFailed, match="does not balance"):
        journal_entry_post(
            idempotency_key="fx",
            memo="fx",
            occurred_on=DAY,
            postings=[
                Posting("cash:stripe", 1000, "USD"),
                Posting("partner_receivable:wayfarer", -1000, "JPY"),
            ],
        )
    assert JournalEntry.objects.count() == 0


def _raw_entry(lines: list[tuple[int, int, str]]) -> None:
    """Insert an entry and its lines with raw SQL, in one statement as the ledger's guards
    require (ledger migration 0002), which checks them at the statement's end."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH entry AS ("
            " INSERT INTO revenue_journalentry (idempotency_key, memo, occurred_on, posted_at)"
            " VALUES ('raw', 'raw', '2026-10-31', now()) RETURNING id) "
            "INSERT INTO revenue_journalline (entry_id, account_id, amount, currency, description) "
            "SELECT entry.id, l.a, l.v, l.c, '' "
            "FROM entry, unnest(%s::bigint[], %s::bigint[], %s::text[]) AS l(a, v, c)",
            [[a for a, _, _ in lines], [v for _, v, _ in lines], [c for _, _, c in lines]],
        )


def _accounts() -> tuple[int, int]:
    receivable = Account.objects.create(code="partner_receivable:x", currency="JPY", kind="asset", name="r")
    revenue = Account.objects.create(code="platform_revenue", currency="JPY", kind="revenue", name="p")
    return receivable.pk, revenue.pk


@pytest.mark.parametrize(
    "lines, message",
    [
        ([("r", 1000), ("p", -999)], "does not balance: JPY lines sum to 1"),
        ([("r", 1000)], "has 1 line(s)"),
    ],
)
def test_the_database_refuses_an_unbalanced_entry(db, lines, message):
    receivable, revenue = _accounts()
    ids = {"r": receivable, "p": revenue}
    with pytest.raises(IntegrityError, match=message.replace("(", r"\(").replace(")", r"\)")), transaction.atomic():
        _raw_entry([(ids[name], amount, "JPY") for name, amount in lines])
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == (0, 0)


def test_the_database_refuses_an_entry_without_lines(db):
    with pytest.raises(IntegrityError, match="has 0 line"), transaction.atomic():
        _raw_entry([])
    assert JournalEntry.objects.count() == 0


def test_the_database_refuses_a_line_in_another_currency_than_its_account(db):
    receivable, revenue = _accounts()
    with pytest.raises(IntegrityError, match="posted to account"), transaction.atomic():
        _raw_entry([(receivable, 1000, "USD"), (revenue, -1000, "USD")])
    assert JournalLine.objects.count() == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE revenue_journalline SET amount = amount + 1",
        "DELETE FROM revenue_journalline",
        "UPDATE revenue_journalentry SET memo = 'rewritten'",
        "DELETE FROM revenue_journalentry",
    ],
)
def test_posted_entries_and_lines_are_append_only(db, statement):
    _approval()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    entry = JournalEntry.objects.get()
    assert entry.memo == "October statement, Hoshi Mart × Rinna"
    assert sorted(entry.lines.values_list("amount", flat=True)) == [-210000, -90000, 300000]


def test_a_reversing_entry_undoes_an_entry(db):
    entry = _approval()
    reversal = journal_entry_reverse(entry=entry, actor=None, memo="Approved by mistake")
    assert reversal.reverses_id == entry.pk
    assert all(b.balance == 0 for tb in trial_balance() for b in tb.accounts)
    assert journal_entry_reverse(entry=entry, actor=None, memo="again").pk == reversal.pk


ACCOUNTS = ["partner_receivable:a", "partner_receivable:b", "payee_payable:s", "platform_revenue", "cash:stripe"]


@st.composite
def balanced_entries(draw):
    entries = []
    for _ in range(draw(st.integers(1, 6))):
        currency = draw(st.sampled_from(["JPY", "USD"]))
        amounts = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=4))
        debit = draw(st.sampled_from(ACCOUNTS))
        credits = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=len(amounts), max_size=len(amounts)))
        postings = [Posting(debit, sum(amounts), currency)]
        postings += [Posting(code, -amount, currency) for code, amount in zip(credits, amounts, strict=True)]
        entries.append(postings)
    return entries


class TrialBalanceProperties(HypothesisTestCase):
    @settings(max_examples=40, deadline=None)
    @given(balanced_entries())
    def test_any_sequence_of_balanced_entries_leaves_a_balanced_trial_balance(self, entries):
        for index, postings in enumerate(entries):
            journal_entry_post(idempotency_key=f"p{index}", memo="p", occurred_on=DAY, postings=postings)
        for currency_balance in trial_balance():
            assert currency_balance.balanced
            assert sum(account.balance for account in currency_balance.accounts) == 0
        expected = sum(p.amount for postings in entries for p in postings if p.amount > 0)
        assert sum(line.amount for line in JournalLine.objects.all() if line.amount > 0) == expected
