"""Thin Celery tasks: ids in, one service call, safe to run twice."""

from celery import shared_task
from celery.signals import worker_process_init

from agents import language, services
from agents.selectors import replies_stalled
from core.queue import enqueue


@worker_process_init.connect
def _warm_language(**_kwargs) -> None:
    """Load the Japanese dictionary, the sentence segmenters and the English meaning model
    once per worker process, not in a shopper's first turn."""
    language.warm()


# Attempts at the configured tiers before the last one falls back a tier (DESIGN.md §6).
REPLY_MAX_RETRIES = 2


@shared_task(bind=True, max_retries=REPLY_MAX_RETRIES, acks_late=True)
def message_reply(self, message_id: int) -> int | None:
    """Answer one inbound message. Keyed by the message id: the reply is unique per message,
    so a duplicate delivery returns the reply already made."""
    attempt = self.request.retries + 1
    try:
        reply = services.message_answer(
            message_id=message_id, attempt=attempt, final=self.request.retries >= REPLY_MAX_RETRIES
        )
    except services.TurnRetry as error:
        raise self.retry(exc=error, countdown=min(2**self.request.retries, 10)) from error
    return reply.pk if reply is not None else None


@shared_task
def reply_sweep() -> list[int]:
    """Beat, every minute (a shopper is waiting): queue again the replies whose message to
    the worker was lost or whose worker died (agents.selectors.replies_stalled). A second
    message_reply for one message returns the reply the first made."""
    message_ids = replies_stalled()
    for message_id in message_ids:
        enqueue("agents.tasks.message_reply", message_id)
    return message_ids
