"""Posting to the double-entry ledger (DESIGN.md §4).

Every money event posts one journal entry through `journal_entry_post`; a run that posts
many (settlement, payouts) may hand them to `journal_entries_post` at once, which writes
them set-based: a few statements for the whole batch instead of several per entry. The
database re-checks what this module checks (balance per currency, at least two lines, the
line's currency its account's, append-only), so the ledger stays right even if a caller is
wrong.
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


def _accounts_found(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    codes, currencies = [c for c, _ in pairs], [c for _, c in pairs]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.code, a.currency, a.id FROM {Account._meta.db_table} a "  # noqa: S608 - the model's table
            "JOIN unnest(%s::text[], %s::text[]) AS w(code, currency) USING (code, currency)",
            [codes, currencies],
        )
        return {(code, currency): pk for code, currency, pk in cursor.fetchall()}


# The new entries and all their lines in one statement: the lines join the entries the
# INSERT actually made (a key posted meanwhile by another worker makes none, and gets no
# lines); lines keep the order given. The deferred triggers check each entry at commit.
_ENTRIES_AND_LINES_INSERT = f"""
WITH entry AS (
    INSERT INTO {JournalEntry._meta.db_table}
           (idempotency_key, memo, occurred_on, posted_at, posted_by_id, reverses_id)
    SELECT k, m, d, %s, %s, r
      FROM unnest(%s::text[], %s::text[], %s::date[], %s::bigint[]) WITH ORDINALITY AS e(k, m, d, r, n)
     ORDER BY n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), line AS (
    INSERT INTO {JournalLine._meta.db_table} (entry_id, account_id, amount, currency, description)
    SELECT entry.id, l.a, l.v, l.c, l.t
      FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[])
           WITH ORDINALITY AS l(k, a, v, c, t, n)
      JOIN entry ON entry.idempotency_key = l.k
     ORDER BY l.n
)
SELECT id, idempotency_key FROM entry
"""  # noqa: S608 - the models' tables


def journal_entries_post(*, entries: list[EntryDraft], actor: User | None = None) -> list[JournalEntry]:
    """Post many entries, each once, in one transaction and a few statements: the new
    entries and all their lines are written by one statement, the database's deferred
    triggers still checking every entry at commit. An entry whose key was posted before is
    returned as it was (whatever is sent again); a key given twice is posted once, with the
    first draft. Returns one entry per draft, in order. If any new entry is refused
    (unbalanced, a single line, an unknown account), nothing is written."""
    if not entries:
        return []
    drafts: dict[str, EntryDraft] = {}
    for draft in entries:
        drafts.setdefault(draft.idempotency_key, draft)
    posted: dict[str, JournalEntry] = {}
    refused: dict[str, ValidationFailed] = {}
    for key, draft in drafts.items():
        try:
            _check_postings(draft.postings)
            for p in draft.postings:
                account_kind_for(p.account_code)
        except ValidationFailed as error:
            refused[key] = error
    # No savepoint of its own: two round trips a call when nothing is refused and every
    # account exists (a settlement or payout run posts one entry per statement or payout).
    # A refusal is raised after the block, so it leaves the caller's transaction usable.
    with transaction.atomic(savepoint=False):
        refusal = _entries_write(drafts, refused, posted, actor)
    if refusal is not None:
        raise refusal
    return [posted[draft.idempotency_key] for draft in entries]


def _entries_write(
    drafts: dict[str, EntryDraft],
    refused: dict[str, ValidationFailed],
    posted: dict[str, JournalEntry],
    actor: User | None,
) -> ValidationFailed | None:
    """The writes of journal_entries_post; `posted` is filled in. Returns the refusal to
    raise, if a refused draft's key was not posted before (then nothing was written)."""
    pairs = {(p.account_code, p.currency) for d in drafts.values() for p in d.postings}
    accounts = _accounts_found(pairs) if not refused else {}
    if refused or len(accounts) < len(pairs):
        # The uncommon path: a draft refused, or an account to create. Keys posted before are
        # answered as they are (a retry never fails on them, nor creates anything for them).
        posted.update(_posted(list(drafts)))
        for key in posted:
            drafts.pop(key)
        for key, error in refused.items():
            if key not in posted:
                return error
        pairs = {(p.account_code, p.currency) for d in drafts.values() for p in d.postings}
        accounts = _accounts_found(pairs)
        for code, currency in sorted(pairs - accounts.keys()):
            accounts[(code, currency)] = account_get_or_create(code=code, currency=currency).pk
    if drafts:
        new = list(drafts.values())
        lines = [(d.idempotency_key, p) for d in new for p in d.postings]
        posted_at = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _ENTRIES_AND_LINES_INSERT,
                [
                    posted_at,
                    actor.pk if actor is not None else None,
                    [d.idempotency_key for d in new],
                    [d.memo[:300] for d in new],
                    [d.occurred_on for d in new],
                    [d.reverses.pk if d.reverses is not None else None for d in new],
                    [key for key, _ in lines],
                    [accounts[(p.account_code, p.currency)] for _, p in lines],
                    [p.amount for _, p in lines],
                    [p.currency for _, p in lines],
                    [p.description[:300] for _, p in lines],
                ],
            )
            inserted = dict((key, pk) for pk, key in cursor.fetchall())
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
    return None


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
