"""Faults (issue "Hardening"): the platform interrupted where it hurts, and what is left.

- A worker killed in the middle of a settlement run and in the middle of a CSV import,
  then the task run again: the result is exactly that of an uninterrupted run. Two ways
  of dying: for settlement the whole worker (its process group, as a machine or container
  going away), after which the task is run again (the broker redelivers an unacknowledged
  task once its visibility timeout has passed; the test runs it at once); for the import
  only the pool process running the task (as the OOM killer would), after which Celery
  itself hands the task to a new pool process at once (`acks_late` +
  `reject_on_worker_lost`) — while the dead process's database session still lingers.
  (A worker killed in the middle of a payout run: tests/e2e/test_payments_loop.py.)
- The database connection of a `POST /api/v1/sales` dropped inside its transaction: the
  client gets a 503 in the API's error shape, nothing of the batch is stored, and the
  same batch sent again is accepted in full.
- Several partner systems posting overlapping batches at the same moment: every event is
  stored once, accepted once and a duplicate otherwise, and no request fails.

"Mid-run" is never a sleep and a hope. The test holds a row lock, from a connection of its
own, on a row the code under test needs partway through its work; it waits until
PostgreSQL shows that backend blocked on the test's lock (`pg_blocking_pids`), and only
then kills the worker or terminates the backend. Everything is real: the HTTP server, the
`celery worker` process, the broker, PostgreSQL.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psutil
import psycopg
import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from contracts import services as contract_services
from contracts.models import Contract, ContractVersion, Placement
from employees.models import DigitalEmployee
from ledger.models import JournalLine
from revenue import tasks
from revenue.models import (
    Outcome,
    Sale,
    SaleUpload,
    SaleUploadRejection,
    SettlementRun,
    Statement,
    StatementLine,
    StatementSplit,
)
from revenue.selectors.stalled import StalledWork, stalled_work
from revenue.services import ingestion
from revenue.services.settlement import (
    settlement_run_execute,
    settlement_run_request,
    statement_approve,
    statement_submit,
)
from revenue.services.uploads import upload_create, upload_process
from tests.support.factories import EmployeeFactory, PartnerFactory
from tests.support.revenue import backdate, period_of, sale, touch
from tests.support.workers import own_connection, wait_for
from tests.support.world import design_terms, hire

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)


# --- the test's own connection, and what PostgreSQL says about the others -------------------


def blocked_by(holder: psycopg.Connection, *, running: str, timeout: float = 60, what: str) -> int:
    """The pid of the backend that waits on a lock `holder` holds, running a statement that
    contains `running` (polled through Django's autocommit connection: each poll is a fresh
    view of pg_stat_activity)."""
    holder_pid = holder.info.backend_pid

    def waiting() -> int | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid)) AND strpos(query, %s) > 0",
                [holder_pid, running],
            )
            row = cursor.fetchone()
        return row[0] if row else None

    return wait_for(waiting, timeout=timeout, what=what)


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


def bearer(world) -> dict[str, str]:
    issued = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS")
    return {"Authorization": f"Bearer {issued.secret}"}


def sale_event(external_id: str, amount: int, day: int = 3, **keys: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "sale",
        "occurred_at": f"2026-10-{day:02d}T12:01:00+09:00",
        "amount": amount,
        "currency": "JPY",
        **keys,
    }


def refund_event(external_id: str, of: str, amount: int) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "refund",
        "refund_of": of,
        "amount": amount,
        "occurred_at": "2026-10-25T09:00:00+09:00",
        "currency": "JPY",
    }


def stored_sales(partner) -> list[tuple[Any, ...]]:
    return sorted(
        Sale.objects.filter(partner=partner).values_list(
            "external_id",
            "type",
            "occurred_at",
            "amount",
            "currency",
            "coupon_code",
            "refund_of__external_id",
            "period",
            "content_digest",
        )
    )


# --- the database connection dropped during ingestion ------------------------------------


def test_the_connection_dropped_inside_an_ingestion_answers_503_and_stores_nothing(world, live_server):
    # given a stored sale, and a batch of 40 new sales and a refund of the stored sale
    headers = bearer(world)
    ingestion.sales_ingest(partner=world.hoshi, events=[sale_event("pos-0", 5_000)])
    batch = [sale_event(f"pos-{n}", 1_000 + n) for n in range(1, 41)] + [refund_event("ref-0", "pos-0", 500)]
    before = stored_sales(world.hoshi)
    url = f"{live_server.url}/api/v1/sales"
    # and the test holding the stored sale's row lock, which the refund needs
    holder = own_connection()
    holder.execute("SELECT id FROM revenue_sale WHERE external_id = 'pos-0' FOR UPDATE")
    answer: dict[str, Any] = {}

    def post() -> None:
        try:
            answer["response"] = requests.post(url, json={"events": batch}, headers=headers, timeout=60)
        except BaseException as exc:  # reported below
            answer["error"] = exc

    client = threading.Thread(target=post)
    client.start()
    try:
        # when the request's backend, its 40 sales inserted, waits for the lock
        victim = blocked_by(holder, running="FOR UPDATE", what="the ingestion to wait for the sale's lock")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'revenue_sale'::regclass "
                "AND mode = 'RowExclusiveLock'",
                [victim],
            )
            assert cursor.fetchone()[0] == 1  # it has written into revenue_sale
            # and its connection is cut from the server's side
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
            assert cursor.fetchone()[0] is True
        holder.rollback()
        client.join(timeout=60)
    finally:
        holder.close()
    # then the client is told, in the API's error shape, to send it again shortly
    assert "error" not in answer, answer.get("error")
    response = answer["response"]
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "The database is unavailable for a moment; nothing of this request was stored. Send it again.",
            "fields": {},
        }
    }
    # and nothing of the batch was stored
    wait_for(lambda: backend_gone(victim), what="the terminated backend to exit")
    assert stored_sales(world.hoshi) == before
    # and the same batch sent again is accepted in full
    again = requests.post(url, json={"events": batch}, headers=headers, timeout=60)
    assert (again.status_code, again.json()) == (200, {"accepted": 41, "duplicates": 0, "rejected": []})
    assert [row[0] for row in stored_sales(world.hoshi)] == sorted(
        ["pos-0", "ref-0", *(f"pos-{n}" for n in range(1, 41))]
    )
    assert Sale.objects.get(external_id="ref-0").refund_of.external_id == "pos-0"


# --- concurrent overlapping batches from several threads ---------------------------------


def test_eight_systems_posting_overlapping_batches_at_once_store_each_event_once(world, live_server):
    # given 20 sales stored earlier (10,000 each), and eight batches that overlap: each has
    # 120 of 200 shared sales in its own order, 10 sales of its own, refunds of some of its
    # shared sales (after them), and 10 of 40 refunds of the earlier sales (two per sale,
    # 3,000 + 4,000: both fit)
    headers = bearer(world)
    ingestion.sales_ingest(partner=world.hoshi, events=[sale_event(f"old-{j:02d}", 10_000, day=1) for j in range(20)])
    shared = [sale_event(f"s-{x:03d}", 2_000 + x, coupon_code=f"C{x % 7}") for x in range(200)]
    old_refunds = [
        refund_event(f"r-old-{j:02d}-{part}", f"old-{j:02d}", amount)
        for j in range(20)
        for part, amount in (("a", 3_000), ("b", 4_000))
    ]
    rng = random.Random(20261202)
    batches = []
    for k in range(8):
        sales = rng.sample(shared, 120) + [sale_event(f"u-{k}-{n}", 500 + n) for n in range(10)]
        rng.shuffle(sales)
        refunds = [
            refund_event(f"r-{e['external_id']}", e["external_id"], 1_000)
            for e in sales
            if e["external_id"].startswith("s-") and int(e["external_id"][2:]) % 10 == 0
        ]
        refunds += rng.sample(old_refunds, 10)
        rng.shuffle(refunds)
        batches.append(sales + refunds)
    distinct = {e["external_id"]: e for batch in batches for e in batch}
    url = f"{live_server.url}/api/v1/sales"
    barrier = threading.Barrier(len(batches))
    results: list[Any] = [None] * len(batches)

    def post(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = requests.post(url, json={"events": batches[index]}, headers=headers, timeout=120)
            results[index] = (response.status_code, response.json())
        except BaseException as exc:  # reported below
            results[index] = exc

    # when they are all posted at the same moment
    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then every request succeeded (no 5xx, no deadlock) and rejected nothing
    for result in results:
        assert not isinstance(result, BaseException), result
    assert [(status, body["rejected"]) for status, body in results] == [(200, [])] * len(batches)
    # and between them each event was accepted exactly once and a duplicate every other time
    assert sum(body["accepted"] for _, body in results) == len(distinct)
    assert sum(body["duplicates"] for _, body in results) == sum(map(len, batches)) - len(distinct)
    # and each event is stored exactly once, as sent
    stored = {row[0]: row for row in stored_sales(world.hoshi)}
    assert sorted(stored) == sorted({*distinct, *(f"old-{j:02d}" for j in range(20))})
    for external_id, event in distinct.items():
        row = stored[external_id]
        assert (row[1], row[3], row[6]) == (event["type"], event["amount"], event.get("refund_of"))
    # and no sale is refunded beyond its amount
    refunded = {}
    for _, kind, _, amount, _, _, refund_of, _, _ in stored.values():
        if kind == "refund":
            refunded[refund_of] = refunded.get(refund_of, 0) + amount
    assert all(total <= stored[of][3] for of, total in refunded.items())


# --- a worker killed in the middle of a CSV import ---------------------------------------


STORED_BEFORE = [sale_event(f"pre-{n:04d}", 10_000, day=2) for n in range(300)]


def import_file() -> bytes:
    """13,515 rows: 12,000 new sales, 200 sent before (duplicates), 50 sent before with
    other content (conflicts), 100 bad rows, 100 identical repeats, 1,000 refunds of the
    file's own sales, 50 refunds of sales sent before (the first needs the sale the test
    locks), 10 that exceed their sale and 5 that name no sale."""
    rows = ["external_id,type,occurred_at,amount,currency,coupon_code,refund_of"]
    for n in range(12_000):
        rows.append(f"f-{n:05d},sale,2026-10-{1 + n % 28:02d}T10:00:00+09:00,{1_000 + n},JPY,C{n % 50},")
    rows += [f"pre-{n:04d},sale,2026-10-02T12:01:00+09:00,10000,JPY,," for n in range(200)]
    rows += [f"pre-{n:04d},sale,2026-10-02T12:01:00+09:00,10001,JPY,," for n in range(200, 250)]
    for n in range(100):
        rows.append(
            [
                f"bad-{n:03d},sale,2026-10-05T10:00:00+09:00,abc,JPY,,",
                f"bad-{n:03d},sale,2026-10-05T10:00:00+09:00,100,USD,,",
                f"bad-{n:03d},sale,2026-10-05T10:00:00+09:00,100,XXX,,",
                f"bad-{n:03d},sale,2026-10-05,100,JPY,,",
            ][n % 4]
        )
    rows += [f"f-{n:05d},sale,2026-10-{1 + n % 28:02d}T10:00:00+09:00,{1_000 + n},JPY,C{n % 50}," for n in range(100)]
    rows += [f"rf-{n:05d},refund,2026-10-29T10:00:00+09:00,100,JPY,,f-{n * 12:05d}" for n in range(1_000)]
    rows += [f"rp-{n:04d},refund,2026-10-29T10:00:00+09:00,2000,JPY,,pre-{n:04d}" for n in range(250, 300)]
    rows += [f"rx-{n:04d},refund,2026-10-29T11:00:00+09:00,9000,JPY,,pre-{n:04d}" for n in range(250, 260)]
    rows += [f"ru-{n},refund,2026-10-29T11:00:00+09:00,100,JPY,,nowhere-{n}" for n in range(5)]
    return ("\n".join(rows) + "\n").encode()


def import_result(upload: SaleUpload) -> dict[str, Any]:
    upload.refresh_from_db()
    return {
        "upload": (
            upload.status,
            upload.rows_total,
            upload.rows_done,
            upload.accepted,
            upload.duplicates,
            upload.rejected,
            upload.error,
        ),
        "sales": stored_sales(upload.partner),
        "from_this_file": Sale.objects.filter(upload=upload).count(),
        "rejections": list(
            SaleUploadRejection.objects.filter(upload=upload)
            .order_by("row_number", "id")
            .values_list("row_number", "column", "code", "reason")
        ),
    }


def uninterrupted_import(world, content: bytes) -> dict[str, Any]:
    """The same file, with the same sales sent before, imported by a twin of Hoshi Mart in
    this process, start to end."""
    twin = PartnerFactory(slug="hoshi-twin", name="Hoshi Twin", currency="JPY", timezone="Asia/Tokyo")
    ingestion.sales_ingest(partner=twin, events=STORED_BEFORE)
    upload = SaleUpload(partner=twin, original_name="october.csv", uploaded_by=world.hoshi_owner)
    upload.file.save("twin/october.csv", ContentFile(content), save=True)
    upload_process(upload_id=upload.pk)
    return import_result(upload)


def tasks_succeeded(worker, task: str) -> int:
    """How many runs of `task` the worker's log reports as succeeded."""
    return len(re.findall(rf"{re.escape(task)}\[[0-9a-f-]+\] succeeded in ", worker.log_path.read_text()))


def pool_child(worker) -> psutil.Process:
    [child] = psutil.Process(worker.pid).children()
    return child


@pytest.mark.integration
def test_a_worker_killed_mid_import_and_the_task_redelivered_imports_exactly_once(
    world, shared_media, celery_worker_process
):
    # given 300 sales sent before, and a 13,515-row file that duplicates, conflicts with and
    # refunds some of them
    content = import_file()
    expected = uninterrupted_import(world, content)
    ingestion.sales_ingest(partner=world.hoshi, events=STORED_BEFORE)
    # (the worker has explained both partners' new sales: one task per batch and per file)
    wait_for(
        lambda: tasks_succeeded(celery_worker_process, "revenue.tasks.attribution_run_task") == 3,
        what="the worker to finish the attribution it was sent",
    )
    # and the test holding the lock of the sale the file's first refund names
    holder = own_connection()
    holder.execute(
        "SELECT id FROM revenue_sale WHERE partner_id = %s AND external_id = 'pre-0250' FOR UPDATE", [world.hoshi.pk]
    )
    try:
        # when the file is uploaded, and its import on the worker has read and checked it and
        # inserted its sales (uncommitted), and waits for that lock to check the refunds
        upload = upload_create(
            actor=world.hoshi_owner,
            partner=world.hoshi,
            file=SimpleUploadedFile("october.csv", content, content_type="text/csv"),
        )
        victim = blocked_by(holder, running="upload_refunds", what="the import to wait for the refunded sale's lock")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'revenue_sale'::regclass "
                "AND mode = 'RowExclusiveLock'",
                [victim],
            )
            assert cursor.fetchone()[0] == 1
        assert (SaleUpload.objects.get(pk=upload.pk).status, SaleUpload.objects.get(pk=upload.pk).rows_total) == (
            "processing",
            13_515,
        )
        # and the worker process running it is killed; Celery hands the task to a new one
        # while the dead process's session still holds the upload's lock
        child = pool_child(celery_worker_process)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        log = celery_worker_process.log_path
        wait_for(
            lambda: log.read_text().count("upload_process_task[") >= 3,
            timeout=30,
            what="the task redelivered and run again",
        )
        assert not backend_gone(victim)
    finally:
        holder.rollback()
        holder.close()
    # then, once the dead session is gone, the import completes exactly as an uninterrupted one
    wait_for(
        lambda: SaleUpload.objects.get(pk=upload.pk).status == "done",
        timeout=60,
        what="the redelivered import to finish",
    )
    # (the redelivered task found the dead session's lock, and tried again later)
    assert re.search(r"upload_process_task\[[0-9a-f-]+\] retry: Retry in \d+s", log.read_text())
    result = import_result(upload)
    assert result["upload"] == ("done", 13_515, 13_515, 13_050, 300, 165, "")
    assert result["from_this_file"] == 13_050
    assert result == {**expected, "sales": result["sales"]}
    assert result["sales"] == expected["sales"]


# --- a worker killed in the middle of a settlement run -----------------------------------


def tokyo(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TOKYO)


def new_york(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=NEW_YORK)


def resolution(placement: Placement, external_id: str, when: datetime) -> None:
    Outcome.objects.create(
        partner_id=placement.partner_id,
        placement=placement,
        kind="resolution",
        external_id=external_id,
        occurred_at=when,
        period=period_of(when, placement.partner.timezone),
    )


def approve(world, statement: Statement) -> Statement:
    statement_submit(actor=world.finance, statement=statement)
    return statement_approve(actor=world.finance2, statement=statement)


def fill_contracts(world, count: int) -> None:
    """`count` more active contracts at Hoshi Mart, each with its own employee and a minimum
    wage of its own (10,000 + n) in force since January: a run settles them in chunks."""
    employees = DigitalEmployee.objects.bulk_create(
        EmployeeFactory.build(slug=f"filler-{n:03d}", name=f"Filler {n}") for n in range(count)
    )
    placements = Placement.objects.bulk_create(
        Placement(partner=world.hoshi, employee=employee, status="active", requested_by=world.hoshi_owner)
        for employee in employees
    )
    contracts = Contract.objects.bulk_create(Contract(placement=placement, currency="JPY") for placement in placements)
    ContractVersion.objects.bulk_create(
        ContractVersion(
            contract=contract,
            number=1,
            status="accepted",
            effective_from=date(2026, 1, 1),
            terms=design_terms(minimum_per_period=10_000 + n),
            created_by=world.hoshi_manager,
            decided_by=world.hoshi_owner,
            decided_at=contract.created_at,
        )
        for n, contract in enumerate(contracts)
    )


@dataclass
class SettlementScene:
    rinna: Placement  # Hoshi Mart, JPY: October approved, November with late sales and a clawback
    kai_wayfarer: Placement  # Wayfarer, USD, flat 10%, no minimum
    kai_hoshi: Placement  # Hoshi Mart, JPY, conversations
    n1: Sale  # a November sale of Rinna's, refunded after the first run


def settlement_scene(world) -> SettlementScene:
    """October settled for Rinna; then 249 filler contracts, then Kai at Wayfarer and at Hoshi
    Mart: a November run writes Rinna and the fillers in its first chunk (250 contracts) and
    the two Kais in its second. The November events that arrive before the first run."""
    rinna = backdate(hire(world))
    for code, day in [("C1", 1), ("C2", 2), ("C5", 20)]:
        touch(rinna, "coupon", code, tokyo(10, day, 9))
    october_c2 = sale(world.hoshi, tokyo(10, 10), 2_000_000, coupon_code="C2", external_id="oct-c2")
    sale(world.hoshi, tokyo(10, 11), 3_000_000, coupon_code="C1", external_id="oct-c1")
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    approve(world, Statement.objects.get(contract=rinna.contract, period=OCT))  # net 5,000,000; rate 0.056

    fill_contracts(world, 249)
    kai_wayfarer = backdate(
        hire(
            world,
            partner="wayfarer",
            employee="kai",
            terms=design_terms(
                currency="USD",
                share={"model": "flat", "rate": "0.10"},
                minimum_per_period=None,
                outcome_fees={"resolution": 150},
            ),
        )
    )
    kai_hoshi = backdate(hire(world, employee="kai"))
    for code in ("N1", "N2", "N3"):
        touch(rinna, "coupon", code, tokyo(11, 1, 9))
    for key in ("K1", "K2", "K3"):
        touch(kai_wayfarer, "click", key, new_york(11, 1, 9))
    for key in ("V1", "V2"):
        touch(kai_hoshi, "conversation", key, tokyo(11, 1, 9))

    n1 = sale(world.hoshi, tokyo(11, 5), 900_000, coupon_code="N1", external_id="nov-n1")
    sale(world.hoshi, tokyo(11, 6), 400_000, coupon_code="N2", external_id="nov-n2")
    sale(world.hoshi, tokyo(11, 7), 300_000, refund_of=october_c2, external_id="nov-c2-r")  # clawed back
    for n in range(3):
        resolution(rinna, f"rinna-r{n}", tokyo(11, 8 + n))
    k2 = sale(world.wayfarer, new_york(11, 5), 20_000, click_id="K2", external_id="wf-k2")
    sale(world.wayfarer, new_york(11, 4), 50_000, click_id="K1", external_id="wf-k1")
    sale(world.wayfarer, new_york(11, 9), 5_000, refund_of=k2, external_id="wf-k2-r")
    resolution(kai_wayfarer, "kai-wf-r0", new_york(11, 10))
    resolution(kai_wayfarer, "kai-wf-r1", new_york(11, 11))
    sale(world.hoshi, tokyo(11, 12), 250_000, conversation_id="V1", external_id="nov-v1")
    return SettlementScene(rinna=rinna, kai_wayfarer=kai_wayfarer, kai_hoshi=kai_hoshi, n1=n1)


def november_arrivals(world, scene: SettlementScene) -> None:
    """What arrives after the first November run: its drafts are stale."""
    sale(world.hoshi, tokyo(10, 30), 500_000, coupon_code="C5", external_id="oct-late")  # October is approved
    sale(world.hoshi, tokyo(11, 14), 1_200_000, coupon_code="N3", external_id="nov-n3")
    sale(world.hoshi, tokyo(11, 16), 100_000, refund_of=scene.n1, external_id="nov-n1-r")
    sale(world.wayfarer, new_york(11, 14), 30_000, click_id="K3", external_id="wf-k3")
    sale(world.hoshi, tokyo(11, 13), 150_000, conversation_id="V2", external_id="nov-v2")
    resolution(scene.kai_hoshi, "kai-h-r0", tokyo(11, 18))


def november() -> dict[str, list[tuple[Any, ...]]]:
    """Every value of every November statement, line and split, by contract."""
    return {
        "statements": list(
            Statement.objects.filter(period=NOV)
            .order_by("contract_id")
            .values_list(
                "contract_id",
                "status",
                "currency",
                "version_number",
                "net",
                "share_precise",
                "effective_rate",
                "wage",
                "clawback",
                "carried_credit",
                "adjustments",
                "total",
                "payable",
                "credit_carried_forward",
                "fingerprint",
                "journal_entry_id",
            )
        ),
        "lines": list(
            StatementLine.objects.filter(statement__period=NOV)
            .order_by("statement__contract_id", "position")
            .values_list(
                "statement__contract_id",
                "position",
                "kind",
                "description",
                "quantity",
                "revenue",
                "amount_precise",
                "amount",
            )
        ),
        "splits": list(
            StatementSplit.objects.filter(statement__period=NOV)
            .order_by("statement__contract_id", "payee__slug")
            .values_list("statement__contract_id", "payee__slug", "share", "amount")
        ),
    }


def ledger() -> list[tuple[Any, ...]]:
    return list(
        JournalLine.objects.order_by("entry__idempotency_key", "account__code").values_list(
            "entry__idempotency_key", "entry__memo", "entry__occurred_on", "account__code", "amount", "currency"
        )
    )


def lines_of(placement: Placement) -> list[tuple[Any, ...]]:
    return list(
        StatementLine.objects.filter(statement__contract=placement.contract, statement__period=NOV)
        .order_by("position")
        .values_list("kind", "quantity", "revenue", "amount")
    )


@pytest.mark.integration
def test_a_worker_killed_mid_settlement_and_the_task_run_again_settles_as_an_uninterrupted_run(
    world, celery_worker_process
):
    # given October approved, 252 contracts, November drafts from a first run, and then
    # new sales, refunds and outcomes that make them stale
    scene = settlement_scene(world)
    settlement_run_execute(run_id=SettlementRun.objects.create(period=NOV).pk)
    november_arrivals(world, scene)
    stale = november()
    ledger_before = ledger()
    # and the test holding the lock of Kai-at-Wayfarer's draft, in the run's second chunk
    wayfarer_draft = Statement.objects.get(contract=scene.kai_wayfarer.contract, period=NOV)
    holder = own_connection()
    holder.execute("SELECT id FROM revenue_statement WHERE id = %s FOR UPDATE", [wayfarer_draft.pk])
    try:
        # when finance runs November on the worker, and the run has written its first chunk
        # and waits for that lock
        run = settlement_run_request(actor=world.finance, period=NOV)
        blocked_by(holder, running="revenue_statement", what="the run to reach its second chunk")
        midway = SettlementRun.objects.get(pk=run.pk)
        assert (midway.status, midway.contracts_total, midway.contracts_done, midway.statements_written) == (
            "running",
            252,
            250,
            250,
        )
        rewritten = november()["statements"]
        # (Rinna's statement is rewritten with the new events, the Kais' are still stale)
        assert [row[4] for row in rewritten[:1] + rewritten[-2:]] == [2_900_000, 65_000, 250_000]
        # and the worker is killed
        os.killpg(celery_worker_process.pid, signal.SIGKILL)
        celery_worker_process.wait(timeout=10)
    finally:
        holder.rollback()
        holder.close()
    assert SettlementRun.objects.get(pk=run.pk).status == "running"
    # and once the dead worker's session has let go of the run's lock, the beat's sweep finds
    # the run stalled (and nothing else), and its task is run again
    wait_for(
        lambda: stalled_work(older_than=timedelta(0)) == StalledWork(upload_ids=[], settlement_run_ids=[run.pk]),
        what="the killed run to be seen as stalled",
    )
    assert tasks.settlement_run_task(run.pk) == 252
    retried = november()
    run.refresh_from_db()
    assert (run.status, run.contracts_done, run.statements_written, run.error) == ("done", 252, 252, "")
    assert retried != stale
    # then the statements, lines and splits are exactly those of an uninterrupted run over the
    # same data (the drafts removed and November run again, start to end)
    Statement.objects.filter(period=NOV).delete()
    settlement_run_execute(run_id=SettlementRun.objects.create(period=NOV).pk)
    assert november() == retried
    # and they are right: Rinna's net 2,500,000 + late 500,000 − refunds 100,000 = 2,900,000;
    # share 80,000 + 95,000; 3 resolutions; raised to 300,000; clawback 300,000 × 0.056
    assert lines_of(scene.rinna) == [
        ("attributed_sales", 3, 2_500_000, 0),
        ("late_sales", 1, 500_000, 0),
        ("refunds", 1, -100_000, 0),
        ("share", None, None, 175_000),
        ("outcome_fee", None, None, 270),
        ("minimum_top_up", None, None, 124_730),
        ("clawback", 1, None, -16_800),
    ]
    # Kai at Wayfarer: 100,000 − 5,000 at 10% + 2 × 150; Kai at Hoshi: 400,000 at 8% + 90, raised
    assert lines_of(scene.kai_wayfarer) == [
        ("attributed_sales", 3, 100_000, 0),
        ("refunds", 1, -5_000, 0),
        ("share", None, None, 9_500),
        ("outcome_fee", None, None, 300),
    ]
    assert lines_of(scene.kai_hoshi) == [
        ("attributed_sales", 2, 400_000, 0),
        ("share", None, None, 32_000),
        ("outcome_fee", None, None, 90),
        ("minimum_top_up", None, None, 267_910),
    ]
    # and the ledger: no run posts to it, killed or not; approval posts exactly the splits
    assert ledger() == ledger_before
    for placement in (scene.rinna, scene.kai_wayfarer, scene.kai_hoshi):
        approve(world, Statement.objects.get(contract=placement.contract, period=NOV))
    entries: dict[str, list[tuple[str, int, str]]] = {}
    for key, _, _, account, amount, currency in sorted(set(ledger()) - set(ledger_before)):
        entries.setdefault(key, []).append((account, amount, currency))
    assert sorted(entries.values()) == [
        [
            ("partner_receivable:hoshi-mart", 283_200, "JPY"),
            ("payee_payable:studio-aoi", -84_960, "JPY"),
            ("platform_revenue", -198_240, "JPY"),
        ],
        [
            ("partner_receivable:hoshi-mart", 300_000, "JPY"),
            ("payee_payable:studio-aoi", -90_000, "JPY"),
            ("platform_revenue", -210_000, "JPY"),
        ],
        [
            ("partner_receivable:wayfarer", 9_800, "USD"),
            ("payee_payable:studio-aoi", -2_940, "USD"),
            ("platform_revenue", -6_860, "USD"),
        ],
    ]
