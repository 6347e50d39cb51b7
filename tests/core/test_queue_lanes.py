"""Celery lanes: a shopper's chat reply, ingestion and settlement each go to a queue of their
own (config/settings.py CELERY_TASK_ROUTES), so a month-end settlement never delays a reply."""

from celery import current_app

EXPECTED_LANE = {
    "agents.tasks.message_reply": "chat",
    "agents.tasks.reply_sweep": "chat",
    "contracts.tasks.audit_entry_notify": "default",
    "contracts.tasks.notifications_sweep": "default",
    "contracts.tasks.placements_activate_due": "default",
    "payments.tasks.credit_note_send_task": "settle",
    "payments.tasks.invoice_issue_task": "settle",
    "payments.tasks.payout_run_scheduled": "settle",
    "payments.tasks.payout_run_task": "settle",
    "payments.tasks.reconciliation_run_task": "settle",
    "payments.tasks.stalled_work_sweep": "settle",
    "revenue.tasks.attribution_run_task": "ingest",
    "revenue.tasks.attribution_sweep": "ingest",
    "revenue.tasks.rollup_reconcile_recent": "settle",
    "revenue.tasks.sale_partitions_ensure_task": "ingest",
    "revenue.tasks.settlement_run_closed_period": "settle",
    "revenue.tasks.settlement_run_task": "settle",
    "revenue.tasks.stalled_work_sweep": "default",
    "revenue.tasks.upload_process_task": "ingest",
    "webhooks.tasks.webhook_delivery_task": "webhooks",
    "webhooks.tasks.webhook_stalled_sweep": "webhooks",
}


def _project_tasks() -> list[str]:
    current_app.loader.import_default_modules()
    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


def test_every_task_goes_to_its_lane():
    # given every task the apps register (a new task must be given a lane here on purpose)
    names = _project_tasks()
    # when the router places each
    lanes = {name: current_app.amqp.router.route({}, name)["queue"].name for name in names if name in EXPECTED_LANE}
    # then each lands where the table says, and the table covers them all
    assert lanes == EXPECTED_LANE
    assert set(names) == set(EXPECTED_LANE)


def test_a_worker_without_queues_named_takes_every_lane():
    # the tests' and benchmarks' workers start without -Q: they must consume all five queues
    assert sorted(queue.name for queue in current_app.amqp.queues.values()) == [
        "chat",
        "default",
        "ingest",
        "settle",
        "webhooks",
    ]
