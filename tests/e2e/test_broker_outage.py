"""The broker down (issue 14, "one way to queue work"): every request that hands work to a
worker still answers 2xx and stores its rows — core.queue logs the lost message instead of
failing — and once the broker is back, the beat's sweeps find the rows and a real worker
finishes the work.

The broker here is the test's own embedded Valkey (tests/helpers_broker.py), really
stopped and started again; the suite's broker, which other tests and workers use, is left
alone."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agents import services as agent_services
from agents.models import Message
from contracts import services as contract_services
from contracts.models import Notification, PendingNotification
from core.models import AuditLog
from core.queue import enqueue
from payments.models import Invoice, PayoutRun, ReconciliationRun
from revenue.models import Sale, SettlementRun, Statement
from tests.support.agents import CATALOG_CSV
from tests.support.payments import NOV, at, connect_payees, october_statement, placement_with_coupons
from tests.support.revenue import touch
from tests.support.workers import wait_for
from tests.support.world import api_as

pytestmark = pytest.mark.integration

SWEEPS = (
    "revenue.tasks.attribution_sweep",
    "revenue.tasks.stalled_work_sweep",
    "payments.tasks.stalled_work_sweep",
    "agents.tasks.reply_sweep",
    "contracts.tasks.notifications_sweep",
)


class _Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_of_queue() -> list[logging.LogRecord]:
    """What core.queue warns about. On its own logger rather than through caplog: pytest's
    handler sits on the root logger, which a logging configuration run during the test
    (Celery's Django fix-up) replaces."""
    handler = _Remember()
    logger = logging.getLogger("core.queue")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_requests_answer_and_the_sweeps_finish_the_work(
    world,
    own_broker,
    settings,
    monkeypatch,
    warnings_of_queue,
    request,
):
    settings.STRIPE_API_KEY = ""  # the manual provider, here and on the worker
    monkeypatch.setenv("STRIPE_API_KEY", "")
    # given the broker is down
    own_broker.stop()
    # and Rinna working at Hoshi Mart (her hire's notices could not be queued), with a
    # catalog, an October statement approved, and a coupon she issued in November
    connect_payees(None)
    placement = placement_with_coupons(world)
    agent_services.catalog_upload(actor=world.hoshi_owner, placement=placement, content=CATALOG_CSV)
    october = october_statement(world, placement)
    touch(placement, "coupon", "N1", at(11, 1, 9))
    key = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS").secret

    # when the partner's system posts a November sale with that coupon
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    posted = pos.post(
        "/api/v1/sales",
        {
            "events": [
                {
                    "external_id": "nov-1",
                    "type": "sale",
                    "occurred_at": "2026-11-05T12:00:00+09:00",
                    "amount": 50_000,
                    "currency": "JPY",
                    "coupon_code": "N1",
                }
            ]
        },
        format="json",
    )
    # and a member of Hoshi Mart asks Rinna something in the portal
    chat = api_as(world.hoshi_member).post(
        f"/api/v1/placements/{placement.pk}/conversations", {"message": "Any bento?"}, format="json"
    )
    # and finance runs November's settlement, invoices October and runs payouts (API), and
    # reconciles (console page)
    finance = api_as(world.finance)
    settlement = finance.post("/api/v1/settlement-runs", {"period": "2026-11"}, format="json")
    invoiced = finance.post("/api/v1/invoices", {"statement": october.pk}, format="json")
    payouts = finance.post("/api/v1/payout-runs", {}, format="json")
    page = Client()
    page.force_login(world.finance)
    reconciled = page.post("/console/reconciliation/")

    # then every request succeeded (the page redirects to itself, as it always does)
    assert [
        posted.status_code,
        chat.status_code,
        settlement.status_code,
        invoiced.status_code,
        payouts.status_code,
    ] == [200, 201, 202, 202, 202]
    assert posted.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert (reconciled.status_code, reconciled["Location"]) == (302, "/console/reconciliation/")
    # and the work is stored, waiting
    sale = Sale.objects.get(external_id="nov-1")
    inbound = Message.objects.get(pk=chat.json()["message"]["id"])
    assert (sale.attribution, sale.placement_id) == ("pending", None)
    assert (inbound.status, Message.objects.filter(reply_to=inbound).exists()) == ("pending", False)
    assert SettlementRun.objects.get(pk=settlement.json()["id"]).status == "queued"
    assert Invoice.objects.get(pk=invoiced.json()["id"]).status == "draft"
    assert PayoutRun.objects.get(pk=payouts.json()["id"]).status == "queued"
    assert list(ReconciliationRun.objects.values_list("status", flat=True)) == ["running"]
    to_notify = set(AuditLog.objects.filter(changes__has_key="placement").values_list("pk", flat=True))
    assert set(PendingNotification.objects.values_list("audit_entry_id", flat=True)) == to_notify
    assert Notification.objects.count() == 0
    # and each lost message was logged as a warning, naming its task
    lost = {record.getMessage().split("(")[0].removeprefix("could not queue ") for record in warnings_of_queue}
    assert lost == {
        "contracts.tasks.audit_entry_notify",
        "revenue.tasks.attribution_run_task",
        "agents.tasks.message_reply",
        "revenue.tasks.settlement_run_task",
        "payments.tasks.invoice_issue_task",
        "payments.tasks.payout_run_task",
        "payments.tasks.reconciliation_run_task",
    }

    # when the broker is back, a worker runs (it counts anything older than now as stalled)
    own_broker.start()
    monkeypatch.setenv("STALLED_WORK_AFTER_SECONDS", "0")
    monkeypatch.setenv("STALLED_REPLY_AFTER_SECONDS", "0")
    request.getfixturevalue("celery_worker_process")
    # and beat sends the sweeps
    assert [enqueue(name) for name in SWEEPS] == [True] * len(SWEEPS)

    # then the worker finishes everything that was waiting
    def done() -> bool:
        return (
            Sale.objects.get(pk=sale.pk).attribution == "attributed"
            and Message.objects.filter(reply_to=inbound).exists()
            and SettlementRun.objects.get(pk=settlement.json()["id"]).status == "done"
            and Invoice.objects.get(pk=invoiced.json()["id"]).status == "open"
            and PayoutRun.objects.get(pk=payouts.json()["id"]).status == "done"
            and ReconciliationRun.objects.get().status == "done"
            and not PendingNotification.objects.exists()
        )

    wait_for(done, timeout=40, what="the sweeps to finish the waiting work")
    sale.refresh_from_db()
    assert (sale.placement_id, sale.attributed_key) == (placement.pk, "coupon_code")
    assert Message.objects.get(pk=inbound.pk).status == "answered"
    assert Statement.objects.get(contract=placement.contract, period=NOV).net == 50_000
    assert Statement.objects.get(pk=october.pk).status == "invoiced"
    assert PayoutRun.objects.get(pk=payouts.json()["id"]).payouts_total == 0  # October is not paid yet
    # and the people involved in the hire were told of each change, once (a draft is told to
    # nobody but the manager, who wrote it)
    assert sorted(Notification.objects.values_list("audit_entry__action", "recipient__username")) == [
        ("contract.accepted", "am-hoshi"),
        ("contract.proposed", "hoshi-owner"),
        ("placement.activated", "am-hoshi"),
        ("placement.approved", "hoshi-owner"),
        ("placement.requested", "am-hoshi"),
    ]
