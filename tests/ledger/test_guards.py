"""The ledger's guards as the database enforces them (ledger migration 0002): checked once per
INSERT statement over every row it wrote, so an entry and all its lines are written by one
statement. Every refusal here is the database's, through raw SQL on a cursor (no service), and
a refused statement stores nothing, even when only one entry of a batch is wrong."""

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from ledger.models import Account, JournalEntry, JournalLine
from ledger.services.posting import Posting, journal_entry_post
from tests.support.factories import AccountFactory
from tests.support.snapshot import db_snapshot
from tests.support.workers import own_connection

# One statement: the entries, then their lines joined to the entries it made, by key.
BATCH_INSERT = """
WITH entry AS (
    INSERT INTO revenue_journalentry (idempotency_key, memo, occurred_on, posted_at)
    SELECT k, k, '2026-10-31', now() FROM unnest(%s::text[]) AS e(k)
    RETURNING id, idempotency_key
)
INSERT INTO revenue_journalline (entry_id, account_id, amount, currency, description)
SELECT entry.id, l.a, l.v, l.c, ''
  FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[]) AS l(k, a, v, c)
  JOIN entry ON entry.idempotency_key = l.k
"""
LINES_INSERT = """
INSERT INTO revenue_journalline (entry_id, account_id, amount, currency, description)
SELECT e, a, v, c, '' FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) AS l(e, a, v, c)
"""


def _batch(cursor, entries: dict[str, list[tuple[int, int, str]]]) -> None:
    lines = [(key, *line) for key, entry_lines in entries.items() for line in entry_lines]
    cursor.execute(BATCH_INSERT, [list(entries), *(list(column) for column in zip(*lines, strict=True))])


def _lines(cursor, lines: list[tuple[int, int, int, str]]) -> None:
    cursor.execute(LINES_INSERT, [list(column) for column in zip(*lines, strict=True)])


def _ledger_state():
    return db_snapshot(Account, JournalEntry, JournalLine)


@pytest.fixture
def accounts(db):
    """Receivable and revenue in JPY, and a USD cash account."""
    return (
        AccountFactory(code="partner_receivable:x").pk,
        AccountFactory(code="platform_revenue", kind="revenue").pk,
        AccountFactory(code="cash:stripe", currency="USD").pk,
    )


def _posted(key: str = "posted") -> JournalEntry:
    return journal_entry_post(
        idempotency_key=key,
        memo=key,
        occurred_on=date(2026, 10, 31),
        postings=[Posting("partner_receivable:x", 500, "JPY"), Posting("platform_revenue", -500, "JPY")],
    )


def test_a_batch_of_good_entries_in_one_statement_is_stored(accounts):
    receivable, revenue, cash = accounts
    # when three entries, one of them in two currencies, are inserted by one statement
    with connection.cursor() as cursor:
        _batch(
            cursor,
            {
                "a": [(receivable, 100, "JPY"), (revenue, -100, "JPY")],
                "b": [(receivable, 7, "JPY"), (revenue, -3, "JPY"), (revenue, -4, "JPY")],
                "c": [(receivable, 9, "JPY"), (revenue, -9, "JPY"), (cash, 5, "USD"), (cash, -5, "USD")],
            },
        )
    # then all are stored
    assert sorted(JournalEntry.objects.values_list("idempotency_key", flat=True)) == ["a", "b", "c"]
    assert JournalLine.objects.count() == 9


@pytest.mark.parametrize(
    "bad, message",
    [
        ("unbalanced", r"journal entry \d+ does not balance: JPY lines sum to 1"),
        ("one line", r"journal entry \d+ has 1 line\(s\); an entry needs at least two"),
        ("no line", r"journal entry \d+ has 0 line\(s\)"),
        ("wrong currency", r"journal line in USD posted to account \d+ kept in JPY"),
        ("balanced only across currencies", r"journal entry \d+ does not balance: (JPY|USD) lines sum to -?10\n"),
    ],
)
def test_one_bad_entry_refuses_the_whole_statement(accounts, bad, message):
    receivable, revenue, cash = accounts
    _posted()
    before = _ledger_state()
    bad_lines = {
        "unbalanced": [(receivable, 1000, "JPY"), (revenue, -999, "JPY")],
        "one line": [(receivable, 1000, "JPY")],
        "no line": [],
        "wrong currency": [(receivable, 1000, "USD"), (cash, -1000, "USD")],
        "balanced only across currencies": [(receivable, 10, "JPY"), (cash, -10, "USD")],
    }[bad]
    entries = {
        "good-1": [(receivable, 100, "JPY"), (revenue, -100, "JPY")],
        "bad": bad_lines,
        "good-2": [(cash, 5, "USD"), (cash, -5, "USD")],
    }
    # when a statement inserts two good entries and a bad one
    with pytest.raises(IntegrityError, match=message), transaction.atomic(), connection.cursor() as cursor:
        _batch(cursor, entries)
    # then the database refused it all: nothing stored
    assert _ledger_state() == before


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(lambda r, p: [(r, 100), (p, -100)], id="a balanced pair"),
        pytest.param(lambda r, p: [(r, 100)], id="one line"),
        pytest.param(lambda r, p: [(r, 100), (r, 50), (p, -150)], id="three balanced lines"),
    ],
)
def test_lines_are_never_added_to_an_entry_written_by_an_earlier_statement(accounts, lines):
    receivable, revenue, _ = accounts
    entry = _posted()
    before = _ledger_state()
    # when lines are inserted for the entry already posted (earlier statement, same transaction)
    with (
        pytest.raises(IntegrityError, match=rf"journal entry {entry.pk} already has lines"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        _lines(cursor, [(entry.pk, account, amount, "JPY") for account, amount in lines(receivable, revenue)])
    # then the database refused them
    assert _ledger_state() == before


def test_lines_added_to_an_old_entry_within_a_good_batch_refuse_the_batch(accounts):
    receivable, revenue, _ = accounts
    entry = _posted()
    before = _ledger_state()
    # when one statement writes a good new entry and also slips a balanced pair into the old one
    statement = (
        "WITH entry AS (INSERT INTO revenue_journalentry (idempotency_key, memo, occurred_on, posted_at) "
        "VALUES ('new', 'new', '2026-10-31', now()) RETURNING id) "
        "INSERT INTO revenue_journalline (entry_id, account_id, amount, currency, description) "
        "SELECT entry.id, %(r)s, 100, 'JPY', '' FROM entry "
        "UNION ALL SELECT entry.id, %(p)s, -100, 'JPY', '' FROM entry "
        "UNION ALL SELECT %(old)s, %(r)s, 100, 'JPY', '' UNION ALL SELECT %(old)s, %(p)s, -100, 'JPY', ''"
    )
    with (
        pytest.raises(IntegrityError, match=rf"journal entry {entry.pk} already has lines"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, {"r": receivable, "p": revenue, "old": entry.pk})
    # then nothing of it is stored
    assert _ledger_state() == before


def test_an_entry_inserted_before_its_lines_is_refused(accounts):
    before = _ledger_state()
    # when an entry is inserted alone, its lines to follow in the next statement
    with pytest.raises(IntegrityError, match=r"has 0 line\(s\)"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO revenue_journalentry (idempotency_key, memo, occurred_on, posted_at) "
            "VALUES ('alone', 'alone', '2026-10-31', now())"
        )
    # then the entry's own statement was refused
    assert _ledger_state() == before


def test_lines_inserted_before_their_entry_are_refused(accounts):
    receivable, revenue, _ = accounts
    before = _ledger_state()
    # when balanced lines name an entry id that does not exist yet (the foreign key is only
    # checked at commit), the entry to follow
    with (
        pytest.raises(IntegrityError, match=r"does not exist where its lines were inserted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT nextval(pg_get_serial_sequence('revenue_journalentry', 'id'))")
        future = cursor.fetchone()[0]
        _lines(cursor, [(future, receivable, 100, "JPY"), (future, revenue, -100, "JPY")])
    # then the lines' statement was refused
    assert _ledger_state() == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE revenue_journalline SET entry_id = %(other)s WHERE entry_id = %(entry)s",
        "UPDATE revenue_journalline SET amount = -amount WHERE entry_id = %(entry)s",
        "DELETE FROM revenue_journalline WHERE entry_id = %(entry)s",
        "UPDATE revenue_journalentry SET occurred_on = '2026-01-01' WHERE id = %(entry)s",
        "DELETE FROM revenue_journalentry WHERE id = %(other)s",
    ],
)
def test_updates_and_deletes_are_refused(accounts, statement):
    entry, other = _posted("one"), _posted("two")
    before = _ledger_state()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, {"entry": entry.pk, "other": other.pk})
    assert _ledger_state() == before


@pytest.mark.django_db(transaction=True)
def test_lines_are_never_added_to_a_committed_entry():
    # given an entry committed (no test transaction around it)
    receivable = AccountFactory(code="partner_receivable:x").pk
    revenue = AccountFactory(code="platform_revenue", kind="revenue").pk
    entry = _posted()
    before = _ledger_state()
    # when a balanced pair is inserted for it in a later transaction
    with (
        pytest.raises(IntegrityError, match=rf"journal entry {entry.pk} already has lines"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        _lines(cursor, [(entry.pk, receivable, 100, "JPY"), (entry.pk, revenue, -100, "JPY")])
    # then the database refused it
    assert _ledger_state() == before


@pytest.mark.django_db(transaction=True)
def test_lines_for_another_transactions_uncommitted_entry_are_refused():
    receivable = AccountFactory(code="partner_receivable:x").pk
    revenue = AccountFactory(code="platform_revenue", kind="revenue").pk
    # given another transaction has written an entry with its lines and not committed yet
    with own_connection() as other:
        other.execute(
            BATCH_INSERT + " RETURNING entry_id",
            [["theirs"], ["theirs", "theirs"], [receivable, revenue], [100, -100], ["JPY", "JPY"]],
        )
        theirs = other.execute("SELECT id FROM revenue_journalentry WHERE idempotency_key = 'theirs'").fetchone()[0]
        # when this one inserts a balanced pair for it (its foreign key would only be checked
        # at commit, after theirs)
        with (
            pytest.raises(IntegrityError, match=rf"journal entry {theirs} does not exist"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            _lines(cursor, [(theirs, receivable, 5, "JPY"), (theirs, revenue, -5, "JPY")])
        other.rollback()
    # then it is refused; theirs, rolled back, left nothing either
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == (0, 0)


def _ledger_triggers() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid IN ('revenue_journalentry'::regclass, 'revenue_journalline'::regclass) ORDER BY tgname"
        )
        return [name for (name,) in cursor.fetchall()]


def test_the_migration_reverses_to_the_deferred_row_triggers_and_back(accounts):
    receivable, revenue, _ = accounts
    executor = MigrationExecutor(connection)
    # when the ledger migrates back to before the statement-level guards
    executor.migrate([("ledger", "0001_initial")])
    # then the deferred row triggers are back, and lines may again follow their entry
    assert _ledger_triggers() == [
        "revenue_journalentry_append_only",
        "revenue_journalentry_has_lines",
        "revenue_journalline_append_only",
        "revenue_journalline_balanced",
        "revenue_journalline_currency",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO revenue_journalentry (idempotency_key, memo, occurred_on, posted_at) "
            "VALUES ('old-style', 'old-style', '2026-10-31', now()) RETURNING id"
        )
        entry = cursor.fetchone()[0]
        _lines(cursor, [(entry, receivable, 100, "JPY"), (entry, revenue, -100, "JPY")])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # and forward again, the statement-level ones
    executor = MigrationExecutor(connection)
    executor.migrate([("ledger", "0002_statement_level_guards")])
    assert _ledger_triggers() == [
        "revenue_journalentry_append_only",
        "revenue_journalentry_statement_check",
        "revenue_journalline_append_only",
        "revenue_journalline_statement_check",
    ]
    with pytest.raises(IntegrityError, match="already has lines"), transaction.atomic(), connection.cursor() as cursor:
        _lines(cursor, [(entry, receivable, 100, "JPY"), (entry, revenue, -100, "JPY")])
