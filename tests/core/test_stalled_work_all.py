"""The stall finders of every app that queues work after a commit (core.queue): each finds
exactly the rows whose task was lost — old enough, not finished, not held by a worker — and
its beat sweep queues exactly those again, by task name. (Uploads and settlement runs:
tests/test_stalled_work.py.)"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from itertools import count

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from agents import tasks as agent_tasks
from agents.models import Conversation, Message
from agents.selectors import replies_stalled
from contracts import services as contract_services
from contracts import tasks as contract_tasks
from contracts.models import Notification, PendingNotification, Placement
from contracts.selectors import notifications_stalled
from core.locks import Lock, advisory_key
from core.models import AuditLog
from payments import tasks as payment_tasks
from payments.models import Invoice, PayoutRun, ReconciliationRun
from payments.selectors.stalled import StalledPayments, stalled_payments
from payments.services import invoicing
from payments.services.reconciliation import reconciliation_run_execute
from revenue.models import Statement
from tests.support.workers import wait_for
from tests.support.world import design_terms, hire, this_period

_numbers = count(1)


def ago(**delta: float):
    return timezone.now() - timedelta(**delta)


def other_session() -> psycopg.Connection:
    """A connection of the test's own, standing in for a worker at work."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
    )


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, tuple]]:
    """What the sweeps hand to core.queue.enqueue (by name), instead of the broker."""
    calls: list[tuple[str, tuple]] = []

    def record(name: str, *args) -> bool:
        calls.append((name, args))
        return True

    for module in (payment_tasks, agent_tasks, contract_tasks):
        monkeypatch.setattr(module, "enqueue", record)
    return calls


# --- payments: invoices, payout runs, reconciliation runs ---------------------------------------


def invoice(placement: Placement, *, status: str = "draft", minutes_ago: float, issue_error: str = "") -> Invoice:
    n = next(_numbers)
    statement = Statement.objects.create(
        contract=placement.contract,
        period=date(2020, 1, 1) + timedelta(days=31 * n),
        currency="JPY",
        version_number=1,
        payable=1_000,
    )
    return Invoice.objects.create(
        statement=statement,
        partner=placement.partner,
        provider="manual",
        currency="JPY",
        amount=1_000,
        status=status,
        issue_error=issue_error,
        idempotency_key=f"statement:{statement.pk}:invoice",
        provider_invoice_id=f"m-{n}" if status != "draft" else "",
        created_at=ago(minutes=minutes_ago),
    )


def payout_run(*, status: str, minutes_ago: float) -> PayoutRun:
    return PayoutRun.objects.create(status=status, as_of=ago(minutes=minutes_ago), created_at=ago(minutes=minutes_ago))


def reconciliation_run(*, status: str, minutes_ago: float) -> ReconciliationRun:
    return ReconciliationRun.objects.create(status=status, created_at=ago(minutes=minutes_ago))


@pytest.fixture
def payments_scene(world):
    placement = hire(world)
    scene = {
        # invoices: two lost drafts, one a worker is issuing, a young one, a refused one, an issued one
        "lost_invoice": invoice(placement, minutes_ago=30),
        "older_lost_invoice": invoice(placement, minutes_ago=60),
        "invoice_at_work": invoice(placement, minutes_ago=30),
        "young_invoice": invoice(placement, minutes_ago=1),
        "refused_invoice": invoice(placement, minutes_ago=30, issue_error="Not Found"),
        "issued_invoice": invoice(placement, status="open", minutes_ago=30),
        # payout runs: a lost queued one, one whose worker died, a young one, finished ones
        "lost_payout_run": payout_run(status="queued", minutes_ago=20),
        "dead_payout_run": payout_run(status="running", minutes_ago=40),
        "young_payout_run": payout_run(status="queued", minutes_ago=1),
        "done_payout_run": payout_run(status="done", minutes_ago=60),
        "failed_payout_run": payout_run(status="failed", minutes_ago=60),
        # reconciliation runs: a lost one, a young one, finished ones
        "lost_reconciliation": reconciliation_run(status="running", minutes_ago=10),
        "young_reconciliation": reconciliation_run(status="running", minutes_ago=1),
        "done_reconciliation": reconciliation_run(status="done", minutes_ago=60),
        "failed_reconciliation": reconciliation_run(status="failed", minutes_ago=60),
    }
    return scene


@pytest.mark.django_db(transaction=True)  # the other session sees only committed rows
def test_payments_finds_old_unfinished_work_no_worker_holds(payments_scene):
    s = payments_scene
    other = other_session()
    try:
        # given a worker issuing one invoice (its row locked)
        other.execute("SELECT id FROM revenue_invoice WHERE id = %s FOR UPDATE", [s["invoice_at_work"].pk])
        # when the sweep looks
        found = stalled_payments()
    finally:
        other.close()
    # then it finds the lost drafts, the lost and the dead payout runs and the lost
    # reconciliation, each oldest first
    assert found == StalledPayments(
        invoice_ids=[s["older_lost_invoice"].pk, s["lost_invoice"].pk],
        payout_run_ids=[s["dead_payout_run"].pk, s["lost_payout_run"].pk],
        reconciliation_run_ids=[s["lost_reconciliation"].pk],
    )


def test_payments_leaves_payout_runs_alone_while_one_holds_the_payout_lock(payments_scene):
    s = payments_scene
    other = other_session()
    try:
        # given a worker running payouts (it holds the payout lock)
        other.execute("SELECT pg_advisory_lock(%s, %s)", advisory_key(Lock.PAYOUT_RUNS))
        # when the sweep looks
        found = stalled_payments()
    finally:
        other.close()
    # then no payout run is stalled: the ones queued follow that one through the lock
    assert found.payout_run_ids == []
    # and the rest is found as before; the sweep holds no lock afterwards
    assert found.invoice_ids == [s["older_lost_invoice"].pk, s["lost_invoice"].pk, s["invoice_at_work"].pk]
    assert found.reconciliation_run_ids == [s["lost_reconciliation"].pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'")
        assert cursor.fetchone()[0] == 0


def test_payments_ages_and_batches_are_settings(payments_scene, settings):
    s = payments_scene
    # given a shorter age and a batch of one
    settings.STALLED_WORK_AFTER = timedelta(seconds=30)
    settings.STALLED_WORK_BATCH = 1
    # then the young ones count too, and only the oldest of each kind is taken
    assert stalled_payments() == StalledPayments(
        invoice_ids=[s["older_lost_invoice"].pk],
        payout_run_ids=[s["dead_payout_run"].pk],
        reconciliation_run_ids=[s["lost_reconciliation"].pk],
    )


def test_the_payments_sweep_queues_what_it_finds_by_task_name(payments_scene, queued):
    s = payments_scene
    # when the beat's sweep runs
    result = payment_tasks.stalled_work_sweep()
    # then it queues each stalled row's own task, and says what it queued
    invoices = [s["older_lost_invoice"].pk, s["lost_invoice"].pk, s["invoice_at_work"].pk]
    payout_runs = [s["dead_payout_run"].pk, s["lost_payout_run"].pk]
    assert result == {
        "invoices": invoices,
        "payout_runs": payout_runs,
        "reconciliation_runs": [s["lost_reconciliation"].pk],
        "credit_notes": [],
    }
    assert queued == (
        [("payments.tasks.invoice_issue_task", (pk,)) for pk in invoices]
        + [("payments.tasks.payout_run_task", (pk,)) for pk in payout_runs]
        + [("payments.tasks.reconciliation_run_task", (s["lost_reconciliation"].pk,))]
    )


def test_a_sweep_finding_nothing_queues_nothing(world, queued):
    # given only finished or fresh work
    placement = hire(world)
    invoice(placement, status="open", minutes_ago=60)
    invoice(placement, minutes_ago=1)
    payout_run(status="done", minutes_ago=60)
    reconciliation_run(status="done", minutes_ago=60)
    before = (
        list(Invoice.objects.values_list("pk", "status")),
        list(PayoutRun.objects.values_list("pk", "status")),
        list(ReconciliationRun.objects.values_list("pk", "status")),
    )
    # when the sweep runs, it finds and queues nothing, and changes nothing
    assert payment_tasks.stalled_work_sweep() == {
        "invoices": [],
        "payout_runs": [],
        "reconciliation_runs": [],
        "credit_notes": [],
    }
    assert queued == []
    assert (
        list(Invoice.objects.values_list("pk", "status")),
        list(PayoutRun.objects.values_list("pk", "status")),
        list(ReconciliationRun.objects.values_list("pk", "status")),
    ) == before


# --- agents: replies a shopper is waiting for ------------------------------------------------------


def message(conversation: Conversation, *, status: str = "pending", seconds_ago: float) -> Message:
    return Message.objects.create(
        conversation=conversation, role="user", content="Any bento?", status=status, created_at=ago(seconds=seconds_ago)
    )


@pytest.mark.django_db(transaction=True)  # the other session sees only committed rows
def test_replies_waiting_past_a_minute_and_not_being_made_are_stalled(world, queued):
    placement = hire(world)
    conversation = Conversation.objects.create(
        public_id="conv-stalled", placement=placement, skill="coupon_promoter", channel="portal"
    )
    # given messages: two lost, one being answered, a fresh one, one from two days ago, and
    # ones answered, apologised for or waiting for a human
    lost = message(conversation, seconds_ago=90)
    older_lost = message(conversation, seconds_ago=3_600)
    at_work = message(conversation, seconds_ago=90)
    message(conversation, seconds_ago=20)
    message(conversation, seconds_ago=2 * 86_400)
    for status in ("answered", "failed", "waiting"):
        message(conversation, status=status, seconds_ago=600)
    other = other_session()
    try:
        other.execute("SELECT id FROM agents_message WHERE id = %s FOR UPDATE", [at_work.pk])
        # when the sweep looks
        found = replies_stalled()
        queued_ids = agent_tasks.reply_sweep()
    finally:
        other.close()
    # then it finds the two lost ones, oldest first, and queues their replies
    assert found == queued_ids == [older_lost.pk, lost.pk]
    assert queued == [("agents.tasks.message_reply", (older_lost.pk,)), ("agents.tasks.message_reply", (lost.pk,))]
    # and, the turn over, the one that was being answered counts too
    assert replies_stalled() == [older_lost.pk, lost.pk, at_work.pk]


# --- contracts: notifications of audited changes ----------------------------------------------------


def test_an_audited_change_stays_pending_until_its_notices_are_made(world):
    # when the owner asks to hire Rinna (the manager is to be told), the manager approves
    # (the owner is to be told) and drafts terms (a draft is told to the manager only, who
    # wrote it: nobody is to be told)
    placement = hire(world, until="requested")
    contract_services.placement_approve(actor=world.hoshi_manager, placement=placement)
    placement.refresh_from_db()
    contract_services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=design_terms(), effective_from=this_period(world.hoshi)
    )
    entries = list(
        AuditLog.objects.filter(action__in=["placement.requested", "placement.approved", "contract.drafted"])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # then each entry is pending
    assert list(PendingNotification.objects.order_by("pk").values_list("audit_entry_id", flat=True)) == entries
    # and once its task has run, none is — also the one that notified nobody
    assert [contract_services.notifications_send(audit_entry_id=pk) for pk in entries] == [1, 1, 0]
    assert PendingNotification.objects.count() == 0
    assert sorted(Notification.objects.values_list("recipient__username", "audit_entry_id")) == [
        ("am-hoshi", entries[0]),
        ("hoshi-owner", entries[1]),
    ]
    # and running it again makes nothing
    assert [contract_services.notifications_send(audit_entry_id=pk) for pk in entries] == [0, 0, 0]
    assert Notification.objects.count() == 2


def test_notifications_pending_for_longer_than_the_age_are_stalled(world, queued):
    # given four audit entries pending: two for long, one just now, one already notified
    hire(world, until="requested")
    PendingNotification.objects.all().delete()
    rows = []
    for minutes in (10, 60, 1, 30):
        entry = AuditLog.objects.create(
            actor_label="test",
            action="placement.note",
            summary="a note",
            target_type_id=AuditLog.objects.first().target_type_id,
            target_id="1",
            changes={"placement": Placement.objects.get().pk},
        )
        rows.append(PendingNotification.objects.create(audit_entry=entry, created_at=ago(minutes=minutes)))
    contract_services.notifications_send(audit_entry_id=rows[3].audit_entry_id)
    # when the sweep runs
    result = contract_tasks.notifications_sweep()
    # then it queues the two old ones, oldest first
    expected = [rows[1].audit_entry_id, rows[0].audit_entry_id]
    assert notifications_stalled() == result == expected
    assert queued == [("contracts.tasks.audit_entry_notify", (pk,)) for pk in expected]


def test_a_refused_invoice_waits_for_finance_and_is_sought_again_once_retried(world):
    # given an old draft the provider refused: it waits for finance, the sweep leaves it
    refused = invoice(hire(world), minutes_ago=30, issue_error="Not Found")
    assert stalled_payments().invoice_ids == []
    # when finance issues it again (and that message is lost too)
    invoicing.invoice_issue_retry(actor=world.finance, invoice=refused)
    # then the old refusal no longer stands, and the sweep finds it
    refused.refresh_from_db()
    assert (refused.status, refused.issue_error, refused.issue_attempt) == ("draft", "", 2)
    assert stalled_payments().invoice_ids == [refused.pk]


@pytest.mark.django_db(transaction=True)  # two sessions, each committing
def test_a_second_delivery_of_a_reconciliation_run_writes_nothing_once_the_first_has(world):
    # given a reconciliation run, and a first delivery of its task about to write its report
    # (it holds the run's row lock)
    run = reconciliation_run(status="running", minutes_ago=10)
    first = other_session()
    first.execute("SELECT id FROM revenue_reconciliationrun WHERE id = %s FOR UPDATE", [run.pk])
    second: dict[str, ReconciliationRun] = {}

    def deliver_again() -> None:
        try:
            second["run"] = reconciliation_run_execute(run_id=run.pk)
        finally:
            connection.close()

    # when a second delivery runs the checks and waits to write its own
    thread = threading.Thread(target=deliver_again)
    thread.start()
    try:
        wait_for(lambda: waiting_on(first), what="the second delivery to wait for the run's row lock")
        # and the first writes its report (one item) and commits
        first.execute(
            "INSERT INTO revenue_reconciliationitem (run_id, kind, reference, expected, actual, message) "
            "VALUES (%s, 'cash', 'cash:manual JPY', '0', '1', 'first')",
            [run.pk],
        )
        first.execute(
            "UPDATE revenue_reconciliationrun SET status = 'done', mismatches = 1, finished_at = now() WHERE id = %s",
            [run.pk],
        )
        first.commit()
        thread.join(timeout=30)
    finally:
        first.close()
    # then the second keeps the first's report rather than writing its items too
    assert second["run"].status == "done"
    run.refresh_from_db()
    assert (run.status, run.mismatches) == ("done", 1)
    assert list(run.items.values_list("message", flat=True)) == ["first"]


def waiting_on(holder: psycopg.Connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [holder.info.backend_pid]
        )
        return cursor.fetchone()[0] > 0
