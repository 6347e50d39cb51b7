"""journal_entries_post: many entries in one statement, with exactly the outcome of
posting them one by one (same lines, same idempotency, nothing written on a refusal)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from core.errors import ValidationFailed
from ledger.models import Account, JournalEntry, JournalLine
from ledger.selectors.balances import trial_balance
from ledger.services.posting import EntryDraft, Posting, journal_entries_post, journal_entry_post
from tests.support.snapshot import db_snapshot

DAY = date(2026, 10, 31)
ACCOUNTS = ["partner_receivable:a", "partner_receivable:b", "payee_payable:s", "platform_revenue", "cash:stripe"]


def _draft(key: str, amount: int = 1000, currency: str = "JPY") -> EntryDraft:
    return EntryDraft(
        idempotency_key=key,
        memo=f"memo {key}",
        occurred_on=DAY,
        postings=[
            Posting("partner_receivable:a", amount, currency, "owed"),
            Posting("payee_payable:s", -(amount - amount // 3), currency, "share"),
            Posting("platform_revenue", -(amount // 3), currency, "fee"),
        ],
    )


def _ledger() -> list[tuple]:
    return list(
        JournalLine.objects.order_by("id").values_list(
            "entry__idempotency_key", "entry__memo", "account__code", "amount", "currency", "description"
        )
    )


def test_a_batch_writes_each_entry_with_its_lines_in_order(db):
    # when three entries in two currencies are posted at once
    entries = journal_entries_post(entries=[_draft("a"), _draft("b", 5000, "USD"), _draft("c", 7)])
    # then each is stored with its lines, in the order given, and returned as stored
    assert [e.idempotency_key for e in entries] == ["a", "b", "c"]
    assert [e.pk for e in entries] == list(JournalEntry.objects.order_by("id").values_list("pk", flat=True))
    assert JournalEntry.objects.get(pk=entries[1].pk).memo == "memo b"
    assert _ledger()[:3] == [
        ("a", "memo a", "partner_receivable:a", 1000, "JPY", "owed"),
        ("a", "memo a", "payee_payable:s", -667, "JPY", "share"),
        ("a", "memo a", "platform_revenue", -333, "JPY", "fee"),
    ]
    assert JournalLine.objects.count() == 9
    assert Account.objects.get(code="payee_payable:s", currency="USD").kind == "liability"
    assert all(tb.balanced for tb in trial_balance())


def test_a_batch_takes_one_statement_whatever_its_size(db):
    journal_entries_post(entries=[_draft("warm")])  # the accounts exist
    with CaptureQueriesContext(connection) as queries:
        journal_entries_post(entries=[_draft(f"k{n}", 100 + n) for n in range(200)])
    # (the entries with their lines, accounts resolved in it: one statement)
    assert len(queries.captured_queries) == 1
    assert JournalEntry.objects.count() == 201


def test_keys_already_posted_or_repeated_are_posted_once(db):
    # given an entry posted before
    first = journal_entry_post(**vars(_draft("a")))
    # when a batch carries it again, and a new key twice (the second with other lines)
    entries = journal_entries_post(entries=[_draft("a", 99), _draft("b"), _draft("b", 4242)])
    # then the earlier entry is returned as it was, and the new key is posted once, as first given
    assert (entries[0].pk, entries[1].pk) == (first.pk, entries[2].pk)
    assert JournalEntry.objects.count() == 2
    assert sorted(JournalLine.objects.filter(entry=entries[1]).values_list("amount", flat=True)) == [-667, -333, 1000]


def test_one_unbalanced_entry_refuses_the_whole_batch(db):
    journal_entries_post(entries=[_draft("before")])
    before = db_snapshot(Account, JournalEntry, JournalLine)
    bad = EntryDraft("bad", "bad", DAY, [Posting("partner_receivable:a", 10, "JPY"), Posting("cash:stripe", -9, "JPY")])
    with pytest.raises(ValidationFailed, match="does not balance"):
        journal_entries_post(entries=[_draft("ok"), bad])
    assert db_snapshot(Account, JournalEntry, JournalLine) == before


def test_an_unknown_account_refuses_the_whole_batch(db):
    before = db_snapshot(Account, JournalEntry, JournalLine)
    odd = EntryDraft("odd", "odd", DAY, [Posting("savings:x", 10, "JPY"), Posting("cash:stripe", -10, "JPY")])
    with pytest.raises(ValidationFailed, match="Unknown ledger account"):
        journal_entries_post(entries=[_draft("ok"), odd])
    assert db_snapshot(Account, JournalEntry, JournalLine) == before


@st.composite
def drafts(draw):
    out = []
    for index in range(draw(st.integers(1, 8))):
        currency = draw(st.sampled_from(["JPY", "USD", "EUR"]))
        amounts = draw(st.lists(st.integers(1, 10**12), min_size=1, max_size=3))
        debit = draw(st.sampled_from(ACCOUNTS))
        credits = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=len(amounts), max_size=len(amounts)))
        postings = [Posting(debit, sum(amounts), currency, "dr")]
        postings += [Posting(code, -amount, currency, "cr") for code, amount in zip(credits, amounts, strict=True)]
        # Some keys repeat: the first draft of a key is the one posted.
        key = f"k{draw(st.integers(0, index))}"
        out.append(EntryDraft(key, f"memo {index}", DAY, postings))
    return out


class BatchPostingProperties(HypothesisTestCase):
    @settings(max_examples=40, deadline=None)
    @given(drafts(), st.integers(0, 8))
    def test_a_batch_posts_what_posting_one_by_one_posts(self, batch, split):
        # when the drafts are posted in two batches (the second overlapping nothing or all)
        journal_entries_post(entries=batch[:split])
        returned = journal_entries_post(entries=batch)
        batched = _ledger()
        keys = [(e.pk, e.idempotency_key) for e in JournalEntry.objects.order_by("id")]
        # then every key is posted once, with its first draft's lines, as one-by-one posting would
        first = {}
        for draft in batch:
            first.setdefault(draft.idempotency_key, draft)
        assert sorted(k for _, k in keys) == sorted(first)
        assert [e.idempotency_key for e in returned] == [d.idempotency_key for d in batch]
        expected = sorted(
            (key, d.memo, p.account_code, p.amount, p.currency, p.description)
            for key, d in first.items()
            for p in d.postings
        )
        assert sorted(batched) == expected
        for currency_balance in trial_balance():
            assert currency_balance.balanced
            assert sum(account.balance for account in currency_balance.accounts) == 0
