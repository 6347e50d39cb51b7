"""Thin Celery tasks: ids in, one service call, safe to run twice."""

from celery import shared_task

from contracts import services


@shared_task(autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, max_retries=5)
def audit_entry_notify(audit_entry_id: int) -> int:
    return services.notifications_send(audit_entry_id=audit_entry_id)


@shared_task
def placements_activate_due() -> list[int]:
    return services.placements_activate_due()
