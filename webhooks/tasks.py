"""Thin Celery tasks of webhooks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from core.queue import enqueue
from webhooks.selectors import stalled_deliveries
from webhooks.services import DELIVERY_TASK, webhook_delivery_attempt


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def webhook_delivery_task(delivery_id: int) -> str:
    """Attempt a delivery; when it is to be tried again, queue the next attempt with its
    backoff as countdown. A lost message is found by webhook_stalled_sweep."""
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        enqueue(DELIVERY_TASK, delivery_id, countdown=outcome.retry_in)
    return outcome.status


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def webhook_stalled_sweep() -> list[int]:
    """Beat, every minute: queue again the deliveries due for a while that nobody attempts
    (webhooks.selectors.stalled_deliveries)."""
    delivery_ids = stalled_deliveries()
    for delivery_id in delivery_ids:
        enqueue(DELIVERY_TASK, delivery_id)
    return delivery_ids
