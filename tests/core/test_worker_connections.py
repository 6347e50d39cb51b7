"""A Celery worker's database connection between tasks (config.celery): kept, as Django keeps
one between requests, unless it is too old or broken. Celery's own Django fixup closed it
after every task, so each chat turn paid a new backend and its cold caches."""

from __future__ import annotations

import time

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import OperationalError, connection

from config.celery import app
from core.queue import task_named

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _between_two_tasks() -> None:
    """What a worker process runs after one task and before the next: the fixup Celery
    installs in a worker, then every receiver of the task signals (config.celery's)."""
    task = task_named("agents.tasks.message_reply")
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_postrun(sender=task)
    task_postrun.send(sender=task, task_id="t1", task=task)
    fixup.on_task_prerun(sender=task)
    task_prerun.send(sender=task, task_id="t2", task=task)


def test_a_worker_keeps_its_connection_for_the_next_task():
    # given a connection a task used
    first = _backend_pid()
    # when the task ends and the next one starts
    _between_two_tasks()
    # then the next task is answered by the same backend
    assert connection.connection is not None
    assert _backend_pid() == first


def test_a_connection_older_than_conn_max_age_is_replaced():
    # given a connection past its CONN_MAX_AGE
    first = _backend_pid()
    connection.close_at = time.monotonic() - 1
    # when the task ends and the next one starts
    _between_two_tasks()
    # then it was closed, and the next task has a new backend
    assert connection.connection is None
    assert _backend_pid() != first


def test_a_connection_an_error_left_unusable_is_replaced():
    # given a connection whose backend went away during a task
    first = _backend_pid()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    # when the task ends and the next one starts
    _between_two_tasks()
    # then the next task has a working connection to a new backend
    assert _backend_pid() != first
