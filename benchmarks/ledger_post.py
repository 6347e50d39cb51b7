"""Posting to the double-entry ledger against raw PostgreSQL inserts of the same rows, in
one run.

    python3 dev.py bench ledger_post [--entries 20000] [--single 2000] [--batch 500]

Builds accounts of several kinds and currencies (partner receivables and payee payables in
JPY, USD and EUR, platform revenue, cash per provider), then posts realistic entries of 2 to
4 lines (a statement approved: receivable against two payees' shares and the platform's; a
payout; an invoice paid; a fee split in three) with unique idempotency keys:

1. single: `journal_entry_post` once per entry, each in its own transaction (a retried task,
   one statement approved by hand);
2. batch: `journal_entry_post` for each entry of a batch inside one transaction, as the
   settlement and payout runs call it (--batch entries a transaction);
3. set-based: `journal_entries_post` with each batch in one call;
4. raw: the same entries and lines written by one statement per batch (a CTE inserting the
   entries, then `INSERT … SELECT FROM unnest` of their lines), the ledger's triggers on
   (balance, line count and the line's currency against its account's checked once at the
   end of the statement; append-only): the baseline. Printed beside it, the same with the
   ledger's triggers off, for what the guards themselves cost.

Every mode ends with the ledger's own check: each entry balances per currency. Target
(issue 16): at least 5,000 balanced entries/s through the service. Uses its own database
(haken_bench in .data/bench) and empties the ledger tables each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from ledger.models import Account  # noqa: E402
from ledger.services import posting  # noqa: E402
from ledger.services.posting import Posting, account_get_or_create, journal_entry_post  # noqa: E402

CURRENCIES = ("JPY", "USD", "EUR")
PARTNERS = 40
PAYEES = 12
PROVIDERS = ("stripe", "bank")


def entry_postings(n: int) -> list[Posting]:
    """Entry n of the run: one of four shapes, in one of three currencies, amounts varying."""
    currency = CURRENCIES[n % len(CURRENCIES)]
    partner = f"partner_receivable:partner-{n % PARTNERS}"
    payee_a, payee_b = f"payee_payable:payee-{n % PAYEES}", f"payee_payable:payee-{(n + 5) % PAYEES}"
    provider = f"cash:{PROVIDERS[n % len(PROVIDERS)]}"
    amount = 1_000 + (n * 7_919) % 900_000
    shape = n % 4
    if shape == 0:  # a statement approved: the partner owes, shares split
        a, b = amount * 5 // 10, amount * 2 // 10
        return [
            Posting(partner, amount, currency, "Statement"),
            Posting(payee_a, -a, currency, "Studio share"),
            Posting(payee_b, -b, currency, "Second studio share"),
            Posting("platform_revenue", -(amount - a - b), currency, "Platform share"),
        ]
    if shape == 1:  # a payout
        return [Posting(payee_a, amount, currency, "Payout"), Posting(provider, -amount, currency, "Payout")]
    if shape == 2:  # an invoice paid
        return [Posting(provider, amount, currency, "Invoice paid"), Posting(partner, -amount, currency, "Invoice")]
    fee = amount // 20  # a payment with the provider's fee
    return [
        Posting(provider, amount - fee, currency, "Received"),
        Posting("platform_revenue", fee, currency, "Provider fee"),
        Posting(partner, -amount, currency, "Invoice"),
    ]


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE revenue_journalline, revenue_journalentry, revenue_account RESTART IDENTITY CASCADE")
    codes = (
        [f"partner_receivable:partner-{i}" for i in range(PARTNERS)]
        + [f"payee_payable:payee-{i}" for i in range(PAYEES)]
        + [f"cash:{p}" for p in PROVIDERS]
        + ["platform_revenue"]
    )
    for code in codes:
        for currency in CURRENCIES:
            account_get_or_create(code=code, currency=currency)


def ledger_counts() -> tuple[int, int, int]:
    """(entries, lines, entries that do not balance per currency)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM revenue_journalentry), (SELECT count(*) FROM revenue_journalline), "
            "(SELECT count(*) FROM (SELECT entry_id FROM revenue_journalline GROUP BY entry_id, currency "
            "HAVING sum(amount) <> 0) u)"
        )
        return cursor.fetchone()


def run_single(first: int, count: int) -> None:
    for n in range(first, first + count):
        journal_entry_post(
            idempotency_key=f"bench:{n}", memo=f"Entry {n}", occurred_on=date(2026, 11, 30), postings=entry_postings(n)
        )


def run_batch(first: int, count: int, batch: int) -> None:
    for start in range(first, first + count, batch):
        with transaction.atomic():
            for n in range(start, min(start + batch, first + count)):
                journal_entry_post(
                    idempotency_key=f"bench:{n}",
                    memo=f"Entry {n}",
                    occurred_on=date(2026, 11, 30),
                    postings=entry_postings(n),
                )


def run_set_based(first: int, count: int, batch: int) -> None:
    for start in range(first, first + count, batch):
        posting.journal_entries_post(
            entries=[
                posting.EntryDraft(
                    idempotency_key=f"bench:{n}",
                    memo=f"Entry {n}",
                    occurred_on=date(2026, 11, 30),
                    postings=entry_postings(n),
                )
                for n in range(start, min(start + batch, first + count))
            ]
        )


# One statement a batch, as the ledger's guards require (ledger migration 0002: an entry and
# its lines are inserted by one statement): the entries, then their lines joined by key.
RAW_ENTRIES_AND_LINES = """
WITH entry AS (
    INSERT INTO revenue_journalentry (idempotency_key, memo, occurred_on, posted_at, posted_by_id, reverses_id)
    SELECT k, m, %s, now(), NULL, NULL FROM unnest(%s::text[], %s::text[]) AS t(k, m)
    RETURNING id, idempotency_key
)
INSERT INTO revenue_journalline (entry_id, account_id, amount, currency, description)
SELECT entry.id, l.a, l.v, l.c, l.t
  FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[]) WITH ORDINALITY AS l(k, a, v, c, t, n)
  JOIN entry ON entry.idempotency_key = l.k
 ORDER BY l.n
"""


def run_raw(first: int, count: int, batch: int, accounts: dict[tuple[str, str], int]) -> None:
    """The baseline: what the database does for the same rows, with no ORM and no checks in
    Python (the postings are built in Python as for the other modes)."""
    for start in range(first, first + count, batch):
        numbers = range(start, min(start + batch, first + count))
        columns: tuple[list, list, list, list, list] = ([], [], [], [], [])
        for n in numbers:
            for p in entry_postings(n):
                columns[0].append(f"bench:{n}")
                columns[1].append(accounts[(p.account_code, p.currency)])
                columns[2].append(p.amount)
                columns[3].append(p.currency)
                columns[4].append(p.description)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                RAW_ENTRIES_AND_LINES,
                [date(2026, 11, 30), [f"bench:{n}" for n in numbers], [f"Entry {n}" for n in numbers], *columns],
            )


@contextmanager
def ledger_triggers_off() -> Iterator[None]:
    """For the second baseline only: the ledger tables without their guards (this database
    is the benchmark's own)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE revenue_journalentry DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE revenue_journalline DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE revenue_journalentry ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE revenue_journalline ENABLE TRIGGER USER")


def measure(label: str, count: int, action) -> float:
    reset()
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    entries, lines, unbalanced = ledger_counts()
    assert (entries, unbalanced) == (count, 0), (label, entries, unbalanced)
    rate = count / elapsed
    print(f"  {label:<52} {count:>7} entries {lines:>7} lines {elapsed:7.2f} s {rate:9,.0f} entries/s", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"ledger_post: cpu count {os.cpu_count()}, entries of 2-4 lines in {', '.join(CURRENCIES)}")

    def raw() -> None:
        accounts = {(a.code, a.currency): a.pk for a in Account.objects.all()}
        run_raw(0, args.entries, args.batch, accounts)

    baseline = measure(f"raw INSERT … SELECT FROM unnest, {args.batch} a transaction", args.entries, raw)
    with ledger_triggers_off():
        measure("  the same, the ledger's triggers off", args.entries, raw)
    single = measure("journal_entry_post, one transaction each", args.single, lambda: run_single(0, args.single))
    batch = measure(
        f"journal_entry_post, {args.batch} a transaction",
        args.entries,
        lambda: run_batch(0, args.entries, args.batch),
    )
    rates = {"single": single, "batch": batch}
    if hasattr(posting, "journal_entries_post"):
        rates["set-based"] = measure(
            f"journal_entries_post, {args.batch} a call",
            args.entries,
            lambda: run_set_based(0, args.entries, args.batch),
        )
    for name, rate in rates.items():
        verdict = "met" if rate >= 5000 else "NOT met"
        print(f"  {name:<10} {rate / baseline:6.1%} of raw   target ≥ 5,000 entries/s: {verdict}")


if __name__ == "__main__":
    main()
