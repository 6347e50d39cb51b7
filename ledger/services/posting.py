"""Posting to the double-entry ledger (DESIGN.md §4).

Every money event posts one journal entry through `journal_entry_post`; a run that posts
many (settlement, payouts) may hand them to `journal_entries_post` at once. Either way an
entry and its lines are written by one statement (a whole batch by one statement too): the
database re-checks what this module checks (balance per currency, at least two lines, the
line's currency its account's, append-only) at the end of each statement and refuses lines
written apart from their entry (ledger migration 0002), so the ledger stays right even if a
caller is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ValidationFailed
from core.models import User
from ledger.models import Account, JournalEntry, JournalLine

# The account's kind follows from what its code tracks.
ACCOUNT_KIND_BY_PREFIX = {
    "partner_receivable": Account.Kind.ASSET,
    "cash": Account.Kind.ASSET,
    "payee_payable": Account.Kind.LIABILITY,
    "platform_revenue": Account.Kind.REVENUE,
    # Tax collected for a jurisdiction (tax_payable:JP): owed to the tax office, never revenue.
    "tax_payable": Account.Kind.LIABILITY,
    # The tax-exclusive part of a credit note (payments.services.credit_notes): a reduction
    # of revenue kept visible on its own, until the correction is allocated.
    "credit_notes": Account.Kind.REVENUE,
}


@dataclass(frozen=True)
class Posting:
    account_code: str
    amount: int  # minor units; debit > 0, credit < 0
    currency: str
    description: str = ""


def account_kind_for(code: str) -> str:
    prefix = code.split(":", 1)[0]
    if prefix not in ACCOUNT_KIND_BY_PREFIX:
        raise ValidationFailed(_("Unknown ledger account %(code)r.") % {"code": code}, fields={"account": [code]})
    return ACCOUNT_KIND_BY_PREFIX[prefix]


def account_get_or_create(*, code: str, currency: str) -> Account:
    kind = account_kind_for(code)
    account, _ = Account.objects.get_or_create(
        code=code, currency=currency, defaults={"kind": kind, "name": code.replace("_", " ")}
    )
    return account


def _check_postings(postings: list[Posting]) -> None:
    if len(postings) < 2:
        raise ValidationFailed(_("A journal entry needs at least two lines."))
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        if not isinstance(posting.amount, int) or isinstance(posting.amount, bool) or posting.amount == 0:
            raise ValidationFailed(
                _("Line amounts are non-zero integers; got %(amount)r.") % {"amount": posting.amount}
            )
        totals[posting.currency] += posting.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise ValidationFailed(_("The entry does not balance: %(unbalanced)s.") % {"unbalanced": unbalanced})


@dataclass(frozen=True)
class EntryDraft:
    """One entry for journal_entries_post."""

    idempotency_key: str
    memo: str
    occurred_on: date
    postings: list[Posting]
    reverses: JournalEntry | None = None


def journal_entry_post(
    *,
    idempotency_key: str,
    memo: str,
    occurred_on: date,
    postings: list[Posting],
    actor: User | None = None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Post an entry once. Posting again with the same key returns the first entry, so a
    retried task or a double click never doubles money. (Atomic: journal_entries_post.)"""
    draft = EntryDraft(idempotency_key, memo, occurred_on, postings, reverses)
    return journal_entries_post(entries=[draft], actor=actor)[0]


def _posted(keys: list[str]) -> dict[str, JournalEntry]:
    return {entry.idempotency_key: entry for entry in JournalEntry.objects.filter(idempotency_key__in=keys)}


# The new entries and all their lines in ONE statement, accounts resolved in it too (the
# database's guards, ledger migration 0002, require an entry and its lines to be inserted by
# one statement and check them at its end). Lines join the entries the INSERT actually made
# (a key posted meanwhile by another worker makes none, and gets no lines) and keep the order
# given; each finds its account by the (code, currency) unique index. If an account does not
# exist yet nothing is inserted and `every_account` says so: the caller creates the accounts
# and sends it again. (The lines come from `unnest` of the arrays, whose length the planner
# knows, so the join to the new entries is hashed; joined to a CTE instead, it was estimated
# at one row and nested-looped, lines × entries.)
_ENTRIES_AND_LINES_INSERT = f"""
WITH found AS (
    SELECT count(*) = %s AS every_account
      FROM unnest(%s::text[], %s::text[]) AS w(code, c)
      JOIN {Account._meta.db_table} a ON a.code = w.code AND a.currency = w.c
), entry AS (
    INSERT INTO {JournalEntry._meta.db_table}
           (idempotency_key, memo, occurred_on, posted_at, posted_by_id, reverses_id)
    SELECT k, m, d, %s, %s, r
      FROM unnest(%s::text[], %s::text[], %s::date[], %s::bigint[]) WITH ORDINALITY AS e(k, m, d, r, n)
     WHERE (SELECT every_account FROM found)
     ORDER BY n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), line AS (
    INSERT INTO {JournalLine._meta.db_table} (entry_id, account_id, amount, currency, description)
    SELECT entry.id,
           (SELECT a.id FROM {Account._meta.db_table} a WHERE a.code = l.code AND a.currency = l.c),
           l.v, l.c, l.t
      FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[])
           WITH ORDINALITY AS l(k, code, v, c, t, n)
      JOIN entry ON entry.idempotency_key = l.k
     ORDER BY l.n
)
SELECT found.every_account, entry.id, entry.idempotency_key FROM found LEFT JOIN entry ON true
"""  # noqa: S608 - the models' tables


def journal_entries_post(*, entries: list[EntryDraft], actor: User | None = None) -> list[JournalEntry]:
    """Post many entries, each once, atomically: the new entries and all their lines are
    written by one statement, which the database's guards check at its end. An entry whose
    key was posted before is returned as it was (whatever is sent again); a key given twice
    is posted once, with the first draft. Returns one entry per draft, in order. If any new
    entry is refused (unbalanced, a single line, an unknown account), nothing is written."""
    if not entries:
        return []
    drafts: dict[str, EntryDraft] = {}
    for draft in entries:
        drafts.setdefault(draft.idempotency_key, draft)
    refused: dict[str, ValidationFailed] = {}
    for key, draft in drafts.items():
        try:
            _check_postings(draft.postings)
            for p in draft.postings:
                account_kind_for(p.account_code)
        except ValidationFailed as error:
            refused[key] = error
    posted: dict[str, JournalEntry] = {}
    # The common case (nothing refused, every account exists) is that one statement and no
    # more: no BEGIN/COMMIT of our own, since one statement is atomic by itself (in the
    # caller's transaction if there is one, else its own) and writes nothing when it refuses.
    if refused or not _entries_insert(list(drafts.values()), posted, actor):
        # The uncommon path: a draft refused, or an account to create.
        with transaction.atomic(savepoint=False):
            refusal = _entries_write_creating_accounts(drafts, refused, posted, actor)
        # Raised after the block, so it leaves the caller's transaction usable.
        if refusal is not None:
            raise refusal
    return [posted[draft.idempotency_key] for draft in entries]


def _entries_write_creating_accounts(
    drafts: dict[str, EntryDraft],
    refused: dict[str, ValidationFailed],
    posted: dict[str, JournalEntry],
    actor: User | None,
) -> ValidationFailed | None:
    """Keys posted before are answered as they are (a retry never fails on them, nor creates
    anything for them); then a refusal is returned (nothing written), or the accounts still
    missing are created and the rest posted. `posted` is filled in."""
    posted.update(_posted(list(drafts)))
    for key, error in refused.items():
        if key not in posted:
            return error
    new = [draft for key, draft in drafts.items() if key not in posted]
    for code, currency in sorted({(p.account_code, p.currency) for d in new for p in d.postings}):
        account_get_or_create(code=code, currency=currency)
    if new and not _entries_insert(new, posted, actor):
        # Unreachable while accounts are never deleted (they are PROTECTed by their lines).
        raise RuntimeError("a ledger account vanished while posting")
    return None


def _entries_insert(new: list[EntryDraft], posted: dict[str, JournalEntry], actor: User | None) -> bool:
    """Insert the drafts (distinct keys) with _ENTRIES_AND_LINES_INSERT and fill `posted` with
    every draft's entry: the one made, or the one posted before under its key. False, with
    nothing written, if an account is missing."""
    lines = [(d.idempotency_key, p) for d in new for p in d.postings]
    pairs = sorted({(p.account_code, p.currency) for _, p in lines})
    posted_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _ENTRIES_AND_LINES_INSERT,
            [
                len(pairs),
                [code for code, _ in pairs],
                [currency for _, currency in pairs],
                posted_at,
                actor.pk if actor is not None else None,
                [d.idempotency_key for d in new],
                [d.memo[:300] for d in new],
                [d.occurred_on for d in new],
                [d.reverses.pk if d.reverses is not None else None for d in new],
                [key for key, _ in lines],
                [p.account_code for _, p in lines],
                [p.amount for _, p in lines],
                [p.currency for _, p in lines],
                [p.description[:300] for _, p in lines],
            ],
        )
        rows = cursor.fetchall()
    if not rows[0][0]:
        return False
    inserted = {key: pk for _, pk, key in rows if pk is not None}
    for d in new:
        if d.idempotency_key in inserted:
            entry = JournalEntry(
                id=inserted[d.idempotency_key],
                idempotency_key=d.idempotency_key,
                memo=d.memo[:300],
                occurred_on=d.occurred_on,
                posted_at=posted_at,
                posted_by=actor,
                reverses=d.reverses,
            )
            entry._state.adding = False
            entry._state.db = connection.alias
            posted[d.idempotency_key] = entry
    taken = [d.idempotency_key for d in new if d.idempotency_key not in inserted]
    if taken:  # posted before (or by another worker meanwhile): theirs stands
        posted.update(_posted(taken))
    return True


@transaction.atomic
def journal_entry_reverse(*, entry: JournalEntry, actor: User | None, memo: str) -> JournalEntry:
    postings = [
        Posting(
            account_code=line.account.code,
            amount=-line.amount,
            currency=line.currency,
            description=f"Reversal: {line.description}",
        )
        for line in entry.lines.select_related("account")
    ]
    return journal_entry_post(
        idempotency_key=f"reversal:{entry.pk}",
        memo=memo,
        occurred_on=entry.occurred_on,
        postings=postings,
        actor=actor,
        reverses=entry,
    )
