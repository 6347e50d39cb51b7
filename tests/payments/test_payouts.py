"""Payouts against the local Connect-speaking server, through the official library: pay
when paid, after the hold, above the minimum, one transfer per payee per run, never
twice — also when the provider refuses, or the process dies between Stripe's answer and
our commit — and a refund after payout recovered from the next period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import InvalidTransition, PermissionDenied
from ledger.selectors.balances import account_balance, trial_balance
from payments.models import Payout, PayoutRun
from payments.services import payouts
from payments.services.invoicing import invoice_create, invoice_issue
from payments.services.payouts import payee_onboarding_link, payout_run_request
from payments.services.webhooks import webhook_event_process
from revenue.models import Statement
from tests.support.payments import (
    DEC,
    LATER,
    NOV,
    OCT,
    at,
    collect,
    connect_payees,
    db_state,
    invoice_event,
    october_statement,
    partner_pays,
    placement_with_coupons,
    run_payouts,
    settle_and_approve,
    two_payee_terms,
)
from tests.support.revenue import sale, touch
from tests.support.world import hire


def sent(server, payee) -> list[int]:
    return [t.amount for t in server.transfers(destination=payee.stripe_account_id)]


@pytest.fixture
def paid_october(world, local_stripe):
    studio, reseller = connect_payees(local_stripe)
    statement = october_statement(world, placement_with_coupons(world))
    collect(world, local_stripe, statement)
    return studio, reseller


def test_a_run_pays_each_payee_its_collected_share_once(world, local_stripe, paid_october):
    studio, reseller = paid_october
    run = run_payouts(world)
    assert (run.status, run.payouts_total, run.payouts_sent, run.payouts_failed) == ("done", 2, 2, 0)
    assert (sent(local_stripe, studio), sent(local_stripe, reseller)) == ([180_000], [120_000])
    transfer = local_stripe.transfers(destination=studio.stripe_account_id)[0]
    payout = Payout.objects.get(payee=studio)
    assert (transfer.transfer_group, transfer.metadata.to_dict()) == (
        f"payout-{payout.pk}",
        {"haken_payout": str(payout.pk), "ledger_key": f"payout:{payout.pk}:sent"},
    )
    assert [(line.account.code, line.amount) for line in payout.journal_entry.lines.select_related("account")] == [
        ("payee_payable:studio-aoi", 180_000),
        ("cash:stripe", -180_000),
    ]
    for code in (
        "cash:stripe",
        "partner_receivable:hoshi-mart",
        "payee_payable:studio-aoi",
        "payee_payable:reseller-kumo",
    ):
        assert account_balance(code=code, currency="JPY") == 0, code

    # a second run finds nothing to pay
    before = db_state()
    again = run_payouts(world)
    assert (again.status, again.payouts_total) == ("done", 0)
    after = db_state()
    assert after == before
    assert (sent(local_stripe, studio), sent(local_stripe, reseller)) == ([180_000], [120_000])


def test_nothing_is_paid_before_collection_or_before_the_hold(world, local_stripe):
    connect_payees(local_stripe)
    statement = october_statement(world, placement_with_coupons(world))
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    # approved and invoiced, not paid: nothing is due
    assert run_payouts(world, after=timedelta(days=400)).payouts_total == 0
    partner_pays(local_stripe, invoice)
    webhook_event_process(event=invoice_event(local_stripe, invoice.provider_invoice_id, "invoice.paid"))
    # paid, but inside the 30-day hold
    assert run_payouts(world, after=timedelta(days=29)).payouts_total == 0
    assert local_stripe.transfers() == []
    assert Payout.objects.count() == 0
    assert run_payouts(world, after=timedelta(days=30, minutes=1)).payouts_sent == 2


def test_a_payee_below_its_minimum_waits_for_a_later_run(world, local_stripe, paid_october):
    studio, reseller = paid_october
    for payee in (studio, reseller):
        payee.minimum_payout = 150_000
        payee.save()
    run = run_payouts(world)
    assert (run.payouts_sent, sent(local_stripe, studio), sent(local_stripe, reseller)) == (1, [180_000], [])
    assert account_balance(code="payee_payable:reseller-kumo", currency="JPY") == -120_000


def test_a_payee_without_a_connect_account_is_not_paid(world, local_stripe, paid_october):
    _, reseller = paid_october
    reseller.stripe_account_id = ""
    reseller.save()
    assert run_payouts(world).payouts_sent == 1
    assert Payout.objects.filter(payee=reseller).count() == 0


def test_a_refused_transfer_is_recorded_and_retried_under_a_new_key(world, local_stripe, paid_october):
    studio, reseller = paid_october
    local_stripe.configure("transfer_failures", account=studio.stripe_account_id, count="1")

    first = run_payouts(world)
    assert (first.payouts_sent, first.payouts_failed) == (1, 1)
    failed = Payout.objects.get(payee=studio)
    assert (failed.status, failed.attempt, failed.failure_message) == (
        "failed",
        2,
        "The destination account cannot receive transfers now.",
    )
    assert account_balance(code="payee_payable:studio-aoi", currency="JPY") == -180_000

    second = run_payouts(world)
    failed.refresh_from_db()
    assert (second.payouts_total, second.payouts_sent, failed.status) == (1, 1, "sent")
    assert (sent(local_stripe, studio), sent(local_stripe, reseller)) == ([180_000], [120_000])
    assert account_balance(code="payee_payable:studio-aoi", currency="JPY") == 0


@pytest.mark.parametrize("found_by", ["transfer group", "idempotency key"])
def test_a_crash_between_the_transfer_and_our_commit_never_pays_twice(
    world, local_stripe, paid_october, monkeypatch, found_by
):
    studio, reseller = paid_october
    real_post = payouts.journal_entry_post

    def crash(**kwargs):
        raise RuntimeError("worker killed after Stripe answered")

    # given the process dies right after Stripe made the first transfer
    with monkeypatch.context() as patch:
        patch.setattr(payouts, "journal_entry_post", crash)
        with pytest.raises(RuntimeError):
            run_payouts(world)
    assert sent(local_stripe, studio) == [180_000]
    assert list(Payout.objects.values_list("status", "attempt")) == [("pending", 1), ("pending", 1)]

    # when the payouts run again (Stripe's idempotency alone, or finding the transfer)
    if found_by == "idempotency key":
        monkeypatch.setattr(payouts.provider_get("stripe").__class__, "transfer_find", lambda self, group: None)
    assert payouts.journal_entry_post is real_post
    run = run_payouts(world)

    # then each payee has exactly one transfer and the ledger is square
    assert (run.payouts_total, run.payouts_sent) == (2, 2)
    assert (sent(local_stripe, studio), sent(local_stripe, reseller)) == ([180_000], [120_000])
    assert account_balance(code="cash:stripe", currency="JPY") == 0


def test_a_refund_after_payout_is_recovered_from_the_next_period(world, local_stripe):
    # given October (no minimum) is collected and paid out: 280,000 → 168,000 / 112,000
    studio, reseller = connect_payees(local_stripe)
    placement = placement_with_coupons(world, terms=two_payee_terms(minimum_per_period=0))
    october = october_statement(world, placement)
    assert (october.payable, [s.amount for s in october.splits.all()]) == (280_000, [168_000, 112_000])
    collect(world, local_stripe, october)
    assert run_payouts(world).payouts_sent == 2

    # when November brings only a refund of a paid-out sale: clawback 3,000,000 × 0.056
    from revenue.models import Sale

    sale(world.hoshi, at(11, 5), 3_000_000, refund_of=Sale.objects.get(external_id="oct-1"))
    november = settle_and_approve(world, NOV)
    assert (november.clawback, november.total, november.payable, november.credit_carried_forward) == (
        168_000,
        -168_000,
        0,
        168_000,
    )
    # then nothing is invoiced and nothing paid against the negative period
    before = db_state()
    with pytest.raises(InvalidTransition):
        invoice_create(actor=world.finance, statement=november)
    assert run_payouts(world, after=timedelta(days=90)).payouts_total == 0
    after = db_state()
    assert after.pop("entries") == before.pop("entries") and after.pop("lines") == before.pop("lines")
    for code in ("payee_payable:studio-aoi", "payee_payable:reseller-kumo"):
        assert account_balance(code=code, currency="JPY") == 0  # never below zero

    # and December's wage is paid out net of the credit: 280,000 − 168,000 = 112,000
    for n in range(1, 5):
        touch(placement, "coupon", f"D{n}", at(12, n, 9))
    for n, amount in enumerate([3_000_000, 1_500_000, 400_000, 100_000], start=1):
        sale(world.hoshi, at(12, 10 + n), amount, coupon_code=f"D{n}", external_id=f"dec-{n}")
    december = settle_and_approve(world, DEC)
    assert (december.carried_credit, december.payable, [s.amount for s in december.splits.all()]) == (
        168_000,
        112_000,
        [67_200, 44_800],
    )
    collect(world, local_stripe, december)
    assert run_payouts(world, after=timedelta(days=90)).payouts_sent == 2
    assert (sorted(sent(local_stripe, studio)), sorted(sent(local_stripe, reseller))) == (
        [67_200, 168_000],
        [44_800, 112_000],
    )
    # everything collected (280,000 + 112,000) went out, to the unit
    assert sum(t.amount for t in local_stripe.transfers()) == 392_000
    for balance in trial_balance():
        assert sum(account.balance for account in balance.accounts) == 0
    assert account_balance(code="cash:stripe", currency="JPY") == 0


def test_payout_runs_and_onboarding_are_for_finance(world, local_stripe):
    studio, _ = connect_payees(local_stripe)
    before = db_state()
    with pytest.raises(PermissionDenied):
        payout_run_request(actor=world.hoshi_owner)
    with pytest.raises(PermissionDenied):
        payee_onboarding_link(actor=world.hoshi_manager, payee=studio, return_url="http://testserver/console/payees/")
    assert db_state() == before
    assert PayoutRun.objects.count() == 0


def test_onboarding_makes_one_connect_account_and_a_link(world, local_stripe):
    from contracts.models import Payee

    studio = Payee.objects.get(slug="studio-aoi")
    studio.payment_provider = "stripe"
    studio.save()
    first = payee_onboarding_link(actor=world.finance, payee=studio, return_url="http://testserver/console/payees/")
    studio.refresh_from_db()
    second = payee_onboarding_link(actor=world.finance, payee=studio, return_url="http://testserver/console/payees/")
    assert studio.stripe_account_id.startswith("acct_")
    assert first == second == f"{local_stripe.url}/connect/onboarding/{studio.stripe_account_id}"
    assert local_stripe.client.v1.accounts.retrieve(studio.stripe_account_id).metadata.to_dict() == {
        "haken_payee": "studio-aoi"
    }


def test_money_collected_by_another_provider_does_not_fund_a_stripe_transfer(world, local_stripe):
    # given the partner pays by bank transfer (manual) while the payees are paid by Stripe
    from payments.services.invoicing import invoice_mark_paid

    connect_payees(local_stripe)
    world.hoshi.payment_provider = "manual"
    world.hoshi.save()
    statement = october_statement(world, placement_with_coupons(world))
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    invoice_mark_paid(actor=world.finance, invoice=invoice)
    # then nothing is sent from the Stripe balance, which received nothing
    run = run_payouts(world)
    assert (run.payouts_total, local_stripe.transfers()) == (0, [])
    assert account_balance(code="cash:manual", currency="JPY") == 300_000


def test_a_run_left_running_by_a_dead_worker_is_taken_over(world, local_stripe, paid_october):
    stale = payout_run_request(actor=world.finance, as_of=timezone.now() + LATER)
    PayoutRun.objects.filter(pk=stale.pk).update(status="running")
    run = run_payouts(world)
    stale.refresh_from_db()
    assert (run.status, run.payouts_sent, stale.status) == ("done", 2, "failed")
    assert stale.error == f"Interrupted (its worker stopped); its unsent payouts were taken over by run #{run.pk}."


def test_the_daily_beat_task_requests_a_run(world):
    from payments.tasks import payout_run_scheduled

    run = PayoutRun.objects.get(pk=payout_run_scheduled())
    assert (run.trigger, run.requested_by, run.status) == ("beat", None, "queued")


def test_one_transfer_per_payee_for_all_its_collected_statements(world, local_stripe):
    # given two employees at Hoshi Mart, each with a statement collected
    from revenue.models import SettlementRun
    from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
    from tests.support.revenue import backdate

    studio, reseller = connect_payees(local_stripe)
    placement_with_coupons(world)  # Rinna, coupons C1–C5
    kai = backdate(hire(world, employee="kai", terms=two_payee_terms()))
    touch(kai, "coupon", "K1", at(10, 15, 9))
    for n, amount in enumerate([3_000_000, 1_500_000, 400_000, 100_000], start=1):
        sale(world.hoshi, at(10, 10 + n), amount, coupon_code=f"C{n}", external_id=f"oct-{n}")
    sale(world.hoshi, at(10, 20), 10_000_000, coupon_code="K1", external_id="kai-1")
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statements = list(Statement.objects.order_by("id"))
    for statement in statements:
        statement_submit(actor=world.finance, statement=statement)
        collect(world, local_stripe, statement_approve(actor=world.finance2, statement=statement))
    # 300,000 (minimum) and 530,000 (80,000 + 9,000,000 × 5%)
    assert [s.payable for s in statements] == [300_000, 530_000]

    run = run_payouts(world)

    # then each payee gets one transfer with both statements' shares
    assert (run.payouts_total, sent(local_stripe, studio), sent(local_stripe, reseller)) == (
        2,
        [180_000 + 318_000],
        [120_000 + 212_000],
    )
    assert Payout.objects.get(payee=studio).items.count() == 2


def test_a_run_queued_while_another_holds_the_lock_waits_and_is_retried(world, monkeypatch):
    from django.db import connections

    from payments import tasks

    run = payout_run_request(actor=world.finance)
    retried = []
    monkeypatch.setattr(tasks.payout_run_task, "retry", lambda **kw: retried.append(kw) or RuntimeError("retry"))
    other = connections.create_connection("default")  # another worker's run holds the lock
    try:
        with other.cursor() as held:
            held.execute("SELECT pg_advisory_lock(%s, %s)", payouts.PAYOUT_LOCK)
            with pytest.raises(RuntimeError):
                tasks.payout_run_task.run(run.pk)
            # let go before closing: a closed session's locks go only when its backend has
            # exited, which the next line could otherwise outrun
            held.execute("SELECT pg_advisory_unlock(%s, %s)", payouts.PAYOUT_LOCK)
    finally:
        other.close()
    assert (PayoutRun.objects.get(pk=run.pk).status, retried) == ("queued", [{"countdown": 30}])
    assert tasks.payout_run_task.run(run.pk) == "done"
