"""Thin Celery tasks: ids in, one service call, safe to run twice."""

from celery import shared_task

from contracts import services
from contracts.selectors import notifications_stalled
from core.queue import enqueue


@shared_task(autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, max_retries=5)
def audit_entry_notify(audit_entry_id: int) -> int:
    return services.notifications_send(audit_entry_id=audit_entry_id)


@shared_task
def placements_activate_due() -> list[int]:
    return services.placements_activate_due()


@shared_task
def notifications_sweep() -> list[int]:
    """Beat, every 5 minutes: queue again the notifications of audit entries still pending
    (contracts.selectors.notifications_stalled): their message was lost (a broker that was
    down) or the task gave up."""
    entry_ids = notifications_stalled()
    for entry_id in entry_ids:
        enqueue("contracts.tasks.audit_entry_notify", entry_id)
    return entry_ids
