"""Payouts (DESIGN.md §4): pay each payee what was collected for it, after its hold,
above its minimum — Dr payee_payable:<payee> / Cr cash:<provider>.

What a payee is due is the set of its statement splits whose invoice is paid (pay when
paid) at least the hold ago: the longer of the payee's own hold and the contract's
`hold_days`. Credits and clawbacks are already inside those splits — a refund after
settlement lowers the next statement's total, a negative period carries a credit and has
no splits — so nothing is ever paid against a negative balance. The payee's payable
account must cover the payout too, or nothing is paid.

A run (one at a time: a session advisory lock, released if its worker dies):
1. plan, in one transaction: each (payee, currency) with splits due becomes one Payout,
   its splits attached as PayoutItems — a split belongs to one payout, ever (unique);
2. send each unsent payout — this run's, and earlier runs' failed or interrupted ones:
   with the row locked, look for a transfer the provider already made for it (its
   `transfer_group`), else create one with the idempotency key `payout:<id>:sent:attempt-N`
   derived from the ledger entry it will post; then post that entry and mark it sent, in
   the same transaction. A crash between the provider's answer and the commit leaves the
   payout unsent with the same key, so the next run finds the same transfer. Only an
   attempt the provider refused moves to the next key.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import Partner, Payee, PaymentProvider
from contracts.services import payee_stripe_account_record
from core.errors import ApplicationError, FourEyesRequired, InvalidTransition, ValidationFailed
from core.locks import Lock, advisory_key, lock_session_acquire, lock_session_release
from core.models import User
from core.permissions import finance_require
from core.queue import enqueue_on_commit
from core.services import audit_record
from ledger.selectors.balances import account_balance
from ledger.services.posting import Posting, journal_entry_post
from payments.models import Payout, PayoutItem, PayoutRun
from payments.providers import ProviderError, provider_get, provider_name_for
from payments.providers.base import TransferSpec
from payments.selectors.billing import payouts_due
from revenue.services.settlement import four_eyes_threshold
from webhooks.models import EventType
from webhooks.selectors import partners_listening
from webhooks.services import webhook_event_emit

logger = logging.getLogger(__name__)

PAYOUT_LOCK = advisory_key(Lock.PAYOUT_RUNS)


def payout_amount(*, due: list[int], minimum: int, payable_balance: int) -> int:
    """What one payout pays: all the collected splits due, or nothing. Nothing when they
    are below the payee's minimum (they wait for the next run), and nothing when the
    payee's payable account (a credit balance, as a positive number, less what is already
    on its way) does not cover them — a payout is never made against a negative balance."""
    total = sum(due)
    if any(amount < 0 for amount in due) or total <= 0 or total < minimum or total > payable_balance:
        return 0
    return total


@transaction.atomic
def payout_run_request(*, actor: User | None, as_of: datetime | None = None, trigger: str = "console") -> PayoutRun:
    as_of = as_of or timezone.now()
    approvers: list[str] = []
    if actor is not None:
        finance_require(actor, doing="run payouts")
        approvers = _check_four_eyes(actor, as_of)
    run = PayoutRun.objects.create(as_of=as_of, requested_by=actor, trigger=trigger)
    audit_record(
        actor=actor,
        action="payout_run.requested",
        target=run,
        summary=f"Payout run #{run.pk} requested",
        via=None if actor else trigger,
        changes={"requested_by": actor.username, "statements_approved_by": approvers} if actor else None,
    )
    enqueue_on_commit("payments.tasks.payout_run_task", run.pk)
    return run


def _check_four_eyes(actor: User, as_of: datetime) -> list[str]:
    """The person who approved a statement does not also pay it out: a run that would pay a
    statement above the four-eyes threshold that `actor` approved is refused. Returns who
    approved the statements the run would pay, for the audit trail. Runs beat starts (no
    person) pay only what two people already released (submitted, then approved)."""
    statements = {
        split.statement_id: split.statement for splits in payouts_due(as_of=as_of).values() for split in splits
    }
    own = sorted(
        (
            s
            for s in statements.values()
            if s.approved_by_id == actor.pk and s.payable > four_eyes_threshold(s.currency)
        ),
        key=lambda s: s.pk,
    )
    if own:
        raise FourEyesRequired(
            "You approved statement(s) "
            + ", ".join(f"#{s.pk}" for s in own)
            + " that this run would pay out, so another finance user must start it (four eyes above the "
            "threshold).",
            fields={"actor": ["must be a different finance user than the one who approved the statements paid."]},
        )
    approvers = User.objects.filter(pk__in={s.approved_by_id for s in statements.values()})
    return sorted(approvers.values_list("username", flat=True))


def _unsent_total(payee: Payee, currency: str) -> int:
    return sum(
        Payout.objects.filter(payee=payee, currency=currency)
        .exclude(status=Payout.Status.SENT)
        .values_list("amount", flat=True)
    )


def _cash_available(provider: str, currency: str) -> int:
    """What the provider holds for us in `currency` by the ledger, less payouts on their way."""
    unsent = sum(
        Payout.objects.filter(provider=provider, currency=currency)
        .exclude(status=Payout.Status.SENT)
        .values_list("amount", flat=True)
    )
    return account_balance(code=f"cash:{provider}", currency=currency) - unsent


@transaction.atomic
def _payouts_plan(run: PayoutRun) -> list[int]:
    run = PayoutRun.objects.select_for_update().get(pk=run.pk)
    for (payee_id, currency), splits in payouts_due(as_of=run.as_of).items():
        payee = Payee.objects.select_for_update().get(pk=payee_id)
        balance = -account_balance(code=f"payee_payable:{payee.slug}", currency=currency)
        amount = payout_amount(
            due=[s.amount for s in splits],
            minimum=payee.minimum_payout,
            payable_balance=balance - _unsent_total(payee, currency),
        )
        provider = provider_name_for(payee)
        if amount == 0:
            continue
        if amount > _cash_available(provider, currency):
            # Collected, but into another provider's account (a manual partner's bank
            # transfer cannot fund a Stripe transfer): it waits until finance moves it.
            logger.warning(
                "payout run %s: %s is due %s %s, but %s cash does not cover it",
                run.pk,
                payee.slug,
                amount,
                currency,
                provider,
            )
            continue
        payout = Payout.objects.create(
            run=run,
            payee=payee,
            provider=provider,
            currency=currency,
            amount=amount,
            destination=payee.stripe_account_id if provider == PaymentProvider.STRIPE else f"manual:{payee.slug}",
        )
        PayoutItem.objects.bulk_create(PayoutItem(payout=payout, split=s, amount=s.amount) for s in splits)
    unsent = list(Payout.objects.exclude(status=Payout.Status.SENT).order_by("id").values_list("id", flat=True))
    run.payouts_total = len(unsent)
    run.save(update_fields=["payouts_total"])
    return unsent


def payout_send(*, payout_id: int) -> Payout:
    """Send one payout; safe to repeat (see the module's note). Returns it sent, failed
    (the provider refused; retried by the next run under the next key) or pending (no
    answer; retried under the same key)."""
    try:
        return _payout_send(payout_id)
    except ProviderError as error:  # no answer we can trust: keep the key, say why
        Payout.objects.filter(pk=payout_id, status=Payout.Status.PENDING).update(failure_message=error.message[:300])
        return Payout.objects.get(pk=payout_id)


@transaction.atomic
def _payout_send(payout_id: int) -> Payout:
    payout = Payout.objects.select_for_update(of=("self",)).select_related("payee").get(pk=payout_id)
    if payout.status == Payout.Status.SENT:
        return payout
    provider = provider_get(payout.provider)
    group = f"payout-{payout.pk}"
    transfer = provider.transfer_find(group=group)
    if transfer is None:
        try:
            transfer = provider.transfer_create(
                TransferSpec(
                    key=payout.transfer_key,
                    group=group,
                    destination=payout.destination,
                    currency=payout.currency,
                    amount=payout.amount,
                    description=f"Haken payout #{payout.pk} to {payout.payee.name}",
                    metadata={"haken_payout": str(payout.pk), "ledger_key": payout.ledger_key},
                )
            )
        except ProviderError as error:
            if not error.definitive:
                raise
            payout.status, payout.failure_message = Payout.Status.FAILED, error.message[:300]
            payout.attempt += 1
            payout.save(update_fields=["status", "failure_message", "attempt"])
            audit_record(
                actor=None,
                action="payout.failed",
                target=payout,
                via=payout.provider,
                summary=f"Payout #{payout.pk} to {payout.payee.name} failed: {error.message}",
            )
            return payout
    if transfer.amount != payout.amount or transfer.currency.upper() != payout.currency:
        raise ValidationFailed(
            f"The provider's transfer {transfer.transfer_id} is {transfer.amount} "
            f"{transfer.currency}, not {payout.amount} {payout.currency}."
        )
    payee = payout.payee
    payout.journal_entry = journal_entry_post(
        idempotency_key=payout.ledger_key,
        memo=f"Payout #{payout.pk} to {payee.name}",
        occurred_on=timezone.localdate(),
        postings=[
            Posting(f"payee_payable:{payee.slug}", payout.amount, payout.currency, f"Payout #{payout.pk}"),
            Posting(f"cash:{payout.provider}", -payout.amount, payout.currency, f"Payout #{payout.pk}"),
        ],
    )
    payout.status, payout.sent_at, payout.failure_message = Payout.Status.SENT, timezone.now(), ""
    payout.provider_transfer_id = transfer.transfer_id
    payout.save(update_fields=["journal_entry", "status", "sent_at", "failure_message", "provider_transfer_id"])
    audit_record(
        actor=None,
        action="payout.sent",
        target=payout,
        via=payout.provider,
        summary=f"Paid {payee.name} {payout.currency} {payout.amount} ({transfer.transfer_id})",
    )
    _paid_emit(payout)
    return payout


def _paid_emit(payout: Payout) -> None:
    """payout.paid, to each partner whose statements this payout carried a share of: which of
    its statements, and how much of each, reached the payee. Never the payout's total — a
    payee's payout gathers shares of several partners' statements — only what the partner's
    own statements and contract terms already show it."""
    items = (
        PayoutItem.objects.filter(payout=payout)
        .values_list(
            "split__statement__contract__placement__partner_id",
            "split__statement_id",
            "split__statement__period",
            "amount",
        )
        .order_by("split__statement_id", "pk")
    )
    by_partner: dict[int, list[dict[str, Any]]] = {}
    for partner_id, statement_id, period, amount in items:
        by_partner.setdefault(partner_id, []).append(
            {"statement": statement_id, "period": f"{period:%Y-%m}", "amount": amount}
        )
    listening = partners_listening(partner_ids=sorted(by_partner), event_type=EventType.PAYOUT_PAID)
    for partner in Partner.objects.filter(pk__in=listening).order_by("pk"):
        statements = by_partner[partner.pk]
        webhook_event_emit(
            partner=partner,
            type=EventType.PAYOUT_PAID,
            key=f"payout:{payout.pk}:paid",
            payload={
                "payout": {
                    "id": payout.pk,
                    "payee": {"slug": payout.payee.slug, "name": payout.payee.name, "kind": payout.payee.kind},
                    "currency": payout.currency,
                    "amount": sum(s["amount"] for s in statements),
                    "paid_at": payout.sent_at,
                    "statements": statements,
                }
            },
        )


def payout_run_execute(*, run_id: int) -> PayoutRun:
    """Plan and send. One run at a time; a run found finished is returned as is, a run a
    dead worker left `running` is picked up again and finishes its payouts."""
    if not lock_session_acquire(PAYOUT_LOCK, wait=False):
        logger.info("payout run %s: another run is in progress; leaving it to that one", run_id)
        return PayoutRun.objects.get(pk=run_id)
    try:
        run = PayoutRun.objects.get(pk=run_id)
        if run.status in (PayoutRun.Status.DONE, PayoutRun.Status.FAILED):
            return run
        run.status, run.started_at = PayoutRun.Status.RUNNING, run.started_at or timezone.now()
        run.save(update_fields=["status", "started_at"])
        # Holding the lock, any other run still marked running lost its worker: this run
        # takes over its unsent payouts, so say so there.
        PayoutRun.objects.filter(status=PayoutRun.Status.RUNNING).exclude(pk=run.pk).update(
            status=PayoutRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"Interrupted (its worker stopped); its unsent payouts were taken over by run #{run.pk}.",
        )
        try:
            unsent = _payouts_plan(run)
            sent = failed = 0
            for done, payout_id in enumerate(unsent, start=1):
                try:
                    payout = payout_send(payout_id=payout_id)
                except ApplicationError as error:  # e.g. the provider's transfer disagrees
                    logger.error("payout %s not sent: %s", payout_id, error.message)
                    payout = Payout.objects.get(pk=payout_id)
                sent += payout.status == Payout.Status.SENT
                failed += payout.status != Payout.Status.SENT
                PayoutRun.objects.filter(pk=run.pk).update(payouts_done=done, payouts_sent=sent, payouts_failed=failed)
            run.refresh_from_db()
            run.status, run.finished_at = PayoutRun.Status.DONE, timezone.now()
            run.save(update_fields=["status", "finished_at"])
        except Exception as error:
            run.status, run.error, run.finished_at = PayoutRun.Status.FAILED, str(error)[:2000], timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
            raise
    finally:
        lock_session_release(PAYOUT_LOCK)
    return run


# --- Connect onboarding --------------------------------------------------------------------------


def payee_onboarding_link(*, actor: User, payee: Payee, return_url: str) -> str:
    """Finance opens a Stripe Connect onboarding link for a payee, making its Connect
    account first (once: the key derives from the payee). Stripe sends the payee back to
    `return_url` (and there too when the link has expired)."""
    finance_require(actor, doing="onboard payees")
    if payee.kind == Payee.Kind.PLATFORM:
        raise InvalidTransition(_("The platform keeps its share; it is not paid out."))
    if provider_name_for(payee) != PaymentProvider.STRIPE:
        raise InvalidTransition(_("%(name)s is paid manually; choose Stripe first.") % {"name": payee.name})
    provider = provider_get(PaymentProvider.STRIPE)
    try:
        account_id = payee.stripe_account_id or provider.connect_account_create(
            key=f"payee:{payee.pk}:connect-account",
            name=payee.name,
            email=payee.email,
            metadata={"haken_payee": payee.slug},
        )
        payee = payee_stripe_account_record(actor=actor, payee=payee, account_id=account_id)
        return provider.onboarding_link(account_id=account_id, refresh_url=return_url, return_url=return_url)
    except ProviderError as error:
        raise InvalidTransition(_("Stripe refused: %(message)s") % {"message": error.message}) from error
