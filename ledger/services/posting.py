"""Posting to the double-entry ledger (DESIGN.md §4).

Every money event posts one journal entry through `journal_entry_post`. The database
re-checks what this module checks (balance per currency, append-only), so the ledger
stays right even if a caller is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
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


@transaction.atomic
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
    retried task or a double click never doubles money."""
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    _check_postings(postings)
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                idempotency_key=idempotency_key,
                memo=memo[:300],
                occurred_on=occurred_on,
                posted_by=actor,
                reverses=reverses,
            )
    except IntegrityError:
        # Another worker posted the same key between our look-up and insert.
        return JournalEntry.objects.get(idempotency_key=idempotency_key)
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            account=account_get_or_create(code=posting.account_code, currency=posting.currency),
            amount=posting.amount,
            currency=posting.currency,
            description=posting.description[:300],
        )
        for posting in postings
    )
    return entry


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
