"""One way to hand work to a Celery worker: after the transaction commits, by task name.

Why by name: a service queues its app's task and the task calls the service, so importing
the task object into the service would make the two modules import each other. The name
is checked against the registry when the service runs (a typo fails at once, in tests),
and the message leaves only once the rows it points at are committed and visible.

Why never raise: the work is already stored as data (a pending sale, a queued run, a
draft invoice, a pending message). When the broker is down the request still answers
2xx; the failure is logged and a beat sweep finds the row later and queues it again, each
in its own app: revenue.tasks.stalled_work_sweep (uploads, settlement runs) and
attribution_sweep (pending sales), payments.tasks.stalled_work_sweep (draft invoices,
payout and reconciliation runs), agents.tasks.reply_sweep (messages waiting for a reply),
contracts.tasks.notifications_sweep (audit entries whose notices are pending),
webhooks.tasks.webhook_stalled_sweep (webhook deliveries due that nobody attempts). Every
task is safe to run twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from celery import current_app
from celery.app.task import Task
from django.db import transaction

logger = logging.getLogger(__name__)
_IMPORTING = threading.Lock()

TaskArgument = int | str | list[int] | None


def task_named(name: str) -> Task[Any, Any]:
    """The registered task called `name`, importing every app's tasks module first if this
    process (a web worker, a shell) has not done so yet."""
    registry = current_app.tasks
    if name not in registry:
        # One thread at a time: a web worker's threads share the registry, and one that
        # returned from its own import while another thread was still executing an app's
        # tasks module found the name missing (first requests of a threaded gunicorn).
        with _IMPORTING:
            if name not in registry:
                current_app.loader.import_default_modules()
    if name not in registry:
        raise LookupError(f"No Celery task is registered as {name!r}.")
    return registry[name]


def enqueue(task_name: str, *args: TaskArgument, countdown: float | None = None) -> bool:
    """Send now (for callers outside a transaction, e.g. a task re-queueing work). False when
    the broker refused or could not be reached; the reason is logged."""
    task = task_named(task_name)
    try:
        if countdown is None:
            task.delay(*args)
        else:
            task.apply_async(args=args, countdown=countdown)
    except Exception:  # any transport error: the row stays for the sweep, the caller carries on
        logger.warning("could not queue %s%r; left for the stalled-work sweep", task_name, args, exc_info=True)
        return False
    return True


def enqueue_on_commit(task_name: str, *args: TaskArgument) -> None:
    """Queue `task_name(*args)` once the current transaction commits (at once outside one)."""
    task_named(task_name)  # fail now, inside the caller's transaction, on an unknown name
    send: Callable[[], bool] = lambda: enqueue(task_name, *args)  # noqa: E731
    transaction.on_commit(send)
