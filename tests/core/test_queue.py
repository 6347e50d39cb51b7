"""core.queue: the one way work is handed to a worker — by task name, after commit, and a
broker that is down costs a warning, never the caller's request."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from core import queue
from tests.support.broker import celery_broker_at, free_port


class Boom(Exception):
    pass


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple]]:
    """What enqueue_on_commit hands to core.queue.enqueue, instead of the broker."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args: calls.append((name, args)) or True)
    return calls


def test_an_unknown_task_name_raises_in_the_caller_and_queues_nothing(db, sent, django_capture_on_commit_callbacks):
    # given a transaction in progress
    # when a service names a task that does not exist
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(LookupError) as raised,
        transaction.atomic(),
    ):
        queue.enqueue_on_commit("contracts.tasks.no_such_task", 7)
    # then it fails there and then, with the name, and nothing waits for the commit
    assert str(raised.value) == "No Celery task is registered as 'contracts.tasks.no_such_task'."
    assert (callbacks, sent) == ([], [])


def test_enqueue_of_an_unknown_name_raises_too(db):
    with pytest.raises(LookupError):
        queue.enqueue("revenue.tasks.nothing_here")


@pytest.mark.django_db(transaction=True)
def test_work_is_sent_once_the_transaction_commits(sent):
    # given a transaction that queues a notification
    with transaction.atomic():
        queue.enqueue_on_commit("contracts.tasks.audit_entry_notify", 41)
        # then nothing is sent while it is open
        assert sent == []
    # and it is sent, once, when it commits
    assert sent == [("contracts.tasks.audit_entry_notify", (41,))]


@pytest.mark.django_db(transaction=True)
def test_nothing_is_sent_when_the_transaction_rolls_back(sent):
    # when a transaction that queued work fails
    with pytest.raises(Boom), transaction.atomic():
        queue.enqueue_on_commit("contracts.tasks.audit_entry_notify", 41)
        queue.enqueue_on_commit("payments.tasks.invoice_issue_task", 42)
        raise Boom
    # then nothing is sent
    assert sent == []
    # and work queued outside any transaction is sent at once
    queue.enqueue_on_commit("payments.tasks.payout_run_task", 43)
    assert sent == [("payments.tasks.payout_run_task", (43,))]


def test_a_broker_that_is_down_answers_false_and_logs_a_warning(caplog):
    # given nothing listening where the broker should be
    with celery_broker_at(f"redis://127.0.0.1:{free_port()}/0"), caplog.at_level(logging.WARNING, logger="core.queue"):
        # when work is queued
        result = queue.enqueue("contracts.tasks.audit_entry_notify", 5)
    # then the caller gets False, not an exception, and the reason is logged as a warning
    assert result is False
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "core.queue",
            logging.WARNING,
            "could not queue contracts.tasks.audit_entry_notify(5,); left for the stalled-work sweep",
        )
    ]
    assert caplog.records[0].exc_info is not None
