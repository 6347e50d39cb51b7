"""Attribution is a pure function of what is stored (DESIGN.md §5a, "Settled readings"):
the order and timing in which sales, touchpoints and refunds arrive never changes a
statement (issue 13).

The property test generates a month of events for a partner whose previous month is
already approved — touchpoints, sales inside and outside the window, late sales dated in
the approved month, refunds of this month's sales and of settled ones — and posts them
twice, through the public API with a real Celery worker attributing as they arrive: once
in time order, one request at a time, for one partner; once in a random interleaving by two
clients at once, for an identical twin partner. Both months are then settled, and the twin
statements must agree value for value, to the minor unit. Every answer must be a 200 (no
`503 service_unavailable` from a deadlock) and PostgreSQL must count no deadlock.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from contracts import services as contract_services
from contracts.models import ContractVersion, Partner, Placement
from contracts.selectors import partner_today
from revenue.models import Sale, SettlementRun, Statement
from revenue.services.settlement import settlement_run_request, statement_approve, statement_submit
from tests.support.concurrency import blocked_backends, transaction_in_thread
from tests.support.factories import MembershipFactory, PartnerFactory, UserFactory
from tests.support.workers import wait_for
from tests.support.world import design_terms

pytestmark = pytest.mark.integration

ZONES = ["Asia/Tokyo", "America/New_York", "Europe/Berlin", "UTC"]
_twins = itertools.count(1)


@dataclass(frozen=True)
class Event:
    """One event of the month, posted through the API in its own request."""

    at: datetime
    path: str
    body: dict
    after: str | None = None  # a refund must arrive after the sale it names


def _partner(world, zone: str) -> tuple[Partner, Placement, APIClient]:
    """A partner with Rinna placed under a graduated contract in force since January, and
    an API key for its feed."""
    n = next(_twins)
    owner = UserFactory(username=f"twin-owner-{n}")
    partner = PartnerFactory(
        slug=f"twin-{n}", name=f"Twin {n}", currency="JPY", timezone=zone, account_manager=world.hoshi_manager
    )
    MembershipFactory(partner=partner, user=owner)
    placement = contract_services.placement_request(actor=owner, employee=world.rinna, note="")
    contract_services.placement_approve(actor=world.hoshi_manager, placement=placement)
    placement.refresh_from_db()
    terms = design_terms(minimum_per_period=None)
    version = contract_services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=placement,
        terms=terms,
        effective_from=partner_today(partner=partner).replace(day=1),
    )
    contract_services.contract_version_propose(actor=world.hoshi_manager, version=version)
    contract_services.contract_version_accept(actor=owner, version=version)
    # The months under test are past: a version 0 in force from January, as an imported
    # older contract would be.
    ContractVersion.objects.create(
        contract=placement.contract,
        number=0,
        terms=terms,
        effective_from="2026-01-01",
        status="accepted",
        created_by=world.hoshi_manager,
    )
    key = contract_services.api_key_create(actor=owner, partner=partner, name="POS").secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return partner, Placement.objects.get(pk=placement.pk), client


@st.composite
def months(draw):
    """A September already approved and an October of events, in the partner's zone."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    september = datetime(2026, 9, 1, tzinfo=zone)
    october = datetime(2026, 10, 1, tzinfo=zone)
    settled = [
        (f"sep-{i}", september + timedelta(days=draw(st.integers(2, 12)), hours=i), draw(st.integers(500, 9_000)))
        for i in range(draw(st.integers(1, 4)))
    ]
    codes = [f"C{i}" for i in range(draw(st.integers(2, 6)))]
    touches = {code: october + timedelta(hours=draw(st.integers(-15 * 24, 20 * 24))) for code in codes}
    events: list[Event] = []
    for code, at in touches.items():
        events.append(
            Event(
                at,
                "/api/v1/touchpoints",
                {"touchpoints": [{"placement": None, "kind": "coupon", "key": code, "occurred_at": at.isoformat()}]},
            )
        )
    sales = []
    for i in range(draw(st.integers(3, 14))):
        code = draw(st.sampled_from([*codes, "NEVER-ISSUED"]))
        base = touches.get(code, october)
        # mostly inside the 14-day window, sometimes past it; some land in September (late)
        at = base + timedelta(hours=draw(st.integers(0, 17 * 24)), minutes=i)
        amount = draw(st.integers(100, 20_000))
        sales.append((f"s-{i}", at, amount))
        events.append(
            Event(
                at,
                "/api/v1/sales",
                {
                    "events": [
                        {
                            "external_id": f"s-{i}",
                            "type": "sale",
                            "occurred_at": at.isoformat(),
                            "amount": amount,
                            "currency": "JPY",
                            "coupon_code": code,
                        }
                    ]
                },
            )
        )
    for external_id, at, amount in draw(st.lists(st.sampled_from(sales), unique=True, max_size=4)):
        refund_at = at + timedelta(hours=draw(st.integers(1, 72)))
        part = draw(st.integers(1, amount))
        events.append(
            Event(
                refund_at,
                "/api/v1/sales",
                {
                    "events": [
                        {
                            "external_id": f"{external_id}-r",
                            "type": "refund",
                            "refund_of": external_id,
                            "occurred_at": refund_at.isoformat(),
                            "amount": part,
                            "currency": "JPY",
                        }
                    ]
                },
                after=external_id,
            )
        )
    for external_id, _at, amount in draw(st.lists(st.sampled_from(settled), unique=True, max_size=2)):
        refund_at = october + timedelta(days=draw(st.integers(0, 25)))
        events.append(
            Event(
                refund_at,
                "/api/v1/sales",
                {
                    "events": [
                        {
                            "external_id": f"{external_id}-r",
                            "type": "refund",
                            "refund_of": external_id,
                            "occurred_at": refund_at.isoformat(),
                            "amount": amount,
                            "currency": "JPY",
                        }
                    ]
                },
                after=external_id,
            )
        )
    shuffle_seed = draw(st.integers(0, 2**32 - 1))
    return zone.key, settled, events, shuffle_seed


def _with_placement(event: Event, placement: Placement) -> dict:
    if "touchpoints" in event.body:
        return {"touchpoints": [{**item, "placement": placement.pk} for item in event.body["touchpoints"]]}
    return event.body


def _post_all(client: APIClient, events: list[Event], placement: Placement, answers: list[int]) -> None:
    try:
        for event in events:
            response = client.post(event.path, _with_placement(event, placement), format="json")
            answers.append(response.status_code)
            assert response.json()["rejected"] == [], response.json()
    finally:
        connections.close_all()


def _interleavings(events: list[Event], seed: int) -> tuple[list[Event], list[Event]]:
    """A random order of the events dealt to two clients, each refund on the same client as
    its sale and after it (a refund of a sale not yet received is rightly refused)."""
    chance = random.Random(seed)
    order = events[:]
    chance.shuffle(order)
    by_sale = {e.body["events"][0]["external_id"]: e for e in events if e.path.endswith("sales") and not e.after}
    lanes: tuple[list[Event], list[Event]] = ([], [])
    lane_of: dict[str, int] = {}
    for event in order:
        if event.after is not None:
            continue
        lane = chance.randrange(2)
        lanes[lane].append(event)
        if event in by_sale.values():
            lane_of[event.body["events"][0]["external_id"]] = lane
    for event in order:
        if event.after is None:
            continue
        if event.after in lane_of:
            lane = lane_of[event.after]
            position = lanes[lane].index(by_sale[event.after]) + 1
            lanes[lane].insert(chance.randint(position, len(lanes[lane])), event)
        else:  # a refund of a settled September sale: any lane, any time
            lane = chance.randrange(2)
            lanes[lane].insert(chance.randint(0, len(lanes[lane])), event)
    return lanes


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _settle(world, period: str) -> None:
    """A settlement run on the worker, as finance starts one."""
    run = settlement_run_request(actor=world.finance, period=datetime.fromisoformat(period).date())
    wait_for(
        lambda: SettlementRun.objects.get(pk=run.pk).status == SettlementRun.Status.DONE,
        timeout=60,
        what=f"the settlement run of {period}",
    )


def _figures(placement: Placement, period: str) -> tuple:
    statement = Statement.objects.get(contract=placement.contract, period=period)
    return (
        statement.net,
        str(statement.share_precise),
        statement.wage,
        statement.clawback,
        statement.total,
        statement.payable,
        statement.credit_carried_forward,
        str(statement.effective_rate),
        [
            (line.kind, line.quantity, line.revenue, line.amount, str(line.amount_precise))
            for line in statement.lines.order_by("position")
        ],
        [(split.payee.slug, split.amount) for split in statement.splits.order_by("payee__slug")],
    )


def _approve(world, placement: Placement, period: str) -> None:
    statement = Statement.objects.get(contract=placement.contract, period=period)
    statement_submit(actor=world.finance, statement=statement)
    # A second person approves: the submitter may not approve their own under four eyes.
    statement_approve(actor=world.staff, statement=statement)


def _wait_until_decided(*partners: Partner) -> None:
    wait_for(
        lambda: not Sale.objects.filter(partner__in=partners, type="sale", attribution="pending").exists(),
        timeout=60,
        what="the worker to attribute every sale",
    )


@settings(
    max_examples=6,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(month=months())
def test_statements_do_not_depend_on_arrival_order(world, celery_worker_process, month):
    zone, settled, events, seed = month
    ordered, ordered_placement, ordered_client = _partner(world, zone)
    shuffled, shuffled_placement, shuffled_client = _partner(world, zone)
    deadlocks_before = _deadlocks()

    # Given: September settled and approved for both twins alike.
    september_touch = datetime(2026, 9, 1, 1, tzinfo=ZoneInfo(zone)).isoformat()
    for client, placement in ((ordered_client, ordered_placement), (shuffled_client, shuffled_placement)):
        client.post(
            "/api/v1/touchpoints",
            {
                "touchpoints": [
                    {"placement": placement.pk, "kind": "coupon", "key": "SEP", "occurred_at": september_touch}
                ]
            },
            format="json",
        )
        response = client.post(
            "/api/v1/sales",
            {
                "events": [
                    {
                        "external_id": external_id,
                        "type": "sale",
                        "occurred_at": at.isoformat(),
                        "amount": amount,
                        "currency": "JPY",
                        "coupon_code": "SEP",
                    }
                    for external_id, at, amount in settled
                ]
            },
            format="json",
        )
        assert response.json()["accepted"] == len(settled)
    _wait_until_decided(ordered, shuffled)
    _settle(world, "2026-09-01")
    for placement in (ordered_placement, shuffled_placement):
        _approve(world, placement, "2026-09-01")

    # When: October's events arrive in time order for one twin, in a random interleaving by
    # two clients at once for the other, while the worker attributes.
    answers: list[int] = []
    _post_all(ordered_client, sorted(events, key=lambda e: (e.at, e.after is not None)), ordered_placement, answers)
    lanes = _interleavings(events, seed)
    second = APIClient()
    second.credentials(**shuffled_client._credentials)
    threads = [
        threading.Thread(target=_post_all, args=(client, lane, shuffled_placement, answers))
        for client, lane in zip((shuffled_client, second), lanes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _wait_until_decided(ordered, shuffled)
    _settle(world, "2026-10-01")

    # Then: the same statements, value for value; no deadlock, no 503.
    assert answers == [200] * (len(events) * 2)
    assert _figures(shuffled_placement, "2026-10-01") == _figures(ordered_placement, "2026-10-01")
    time.sleep(0.6)  # statistics reach pg_stat_database at the end of each backend's transaction
    assert _deadlocks() - deadlocks_before == 0


def test_many_clients_refunding_while_the_worker_attributes_meet_no_deadlock(world, celery_worker_process):
    """The same load, heavier: four clients at once post batches of sales and refunds of
    each other's sales (locked by ingestion in id order) while the worker's passes write
    attribution onto the same rows. No answer is a 503 and PostgreSQL counts no deadlock."""
    partner, placement, client = _partner(world, "Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")
    october = datetime(2026, 10, 1, tzinfo=tokyo)
    client.post(
        "/api/v1/touchpoints",
        {
            "touchpoints": [
                {"placement": placement.pk, "kind": "coupon", "key": f"K{i}", "occurred_at": october.isoformat()}
                for i in range(20)
            ]
        },
        format="json",
    )
    answers: list[int] = []
    deadlocks_before = _deadlocks()

    def lane(number: int) -> None:
        mine = APIClient()
        mine.credentials(**client._credentials)
        try:
            for batch in range(12):
                sales = [
                    {
                        "external_id": f"L{number}-{batch}-{i}",
                        "type": "sale",
                        "amount": 1_000 + i,
                        "currency": "JPY",
                        "coupon_code": f"K{(batch + i) % 20}",
                        "occurred_at": (october + timedelta(days=2, minutes=i)).isoformat(),
                    }
                    for i in range(40)
                ]
                # refunds of the sales another lane posted a batch ago (when they exist yet)
                other = (number + 1) % 4
                refunds = (
                    [
                        {
                            "external_id": f"L{other}-{batch - 1}-{i}-r{number}",
                            "type": "refund",
                            "refund_of": f"L{other}-{batch - 1}-{i}",
                            "amount": 1,
                            "currency": "JPY",
                            "occurred_at": (october + timedelta(days=3, minutes=i)).isoformat(),
                        }
                        for i in range(0, 40, 3)
                    ]
                    if batch
                    else []
                )
                response = mine.post("/api/v1/sales", {"events": sales + refunds}, format="json")
                answers.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _wait_until_decided(partner)
    time.sleep(0.6)

    assert answers == [200] * 48
    assert _deadlocks() - deadlocks_before == 0
    assert Sale.objects.filter(partner=partner, type="sale", attribution="attributed").count() == 4 * 12 * 40


# --- the race itself, made deterministic with a second connection holding its transaction ---


def _coupon(placement: Placement, key: str, when: datetime) -> dict:
    return {"placement": placement.pk, "kind": "coupon", "key": key, "occurred_at": when.isoformat()}


def test_a_touchpoint_stored_while_a_pass_starts_leaves_its_sale_for_the_next_pass(transactional_db, world):
    # Given: a sale whose coupon's touchpoint is being stored by another transaction, not yet
    # committed (it has already sent the sale back to pending, so it holds the sale's row).
    from revenue.services.attribution import attribution_run
    from revenue.services.ingestion import touchpoints_ingest
    from tests.support.revenue import sale

    partner, placement, _ = _partner(world, "Asia/Tokyo")
    october = datetime(2026, 10, 5, 12, tzinfo=ZoneInfo("Asia/Tokyo"))
    bought = sale(partner, october, 7_000, coupon_code="LATE-1")
    hold, release = threading.Event(), threading.Event()
    storing = transaction_in_thread(
        lambda: touchpoints_ingest(
            partner=partner, touchpoints=[_coupon(placement, "LATE-1", october - timedelta(days=2))]
        ),
        hold=hold,
        release=release,
    )
    assert hold.wait(10)

    # When: the worker's pass for the sale runs meanwhile.
    during = attribution_run(sale_ids=[bought.pk])

    # Then: it does not decide the sale on a snapshot without the touchpoint: it leaves it
    # pending for the pass that follows the commit, which credits the touchpoint.
    bought.refresh_from_db()
    assert (during.attributed, during.unattributed, during.skipped, bought.attribution) == (0, 0, 1, "pending")
    release.set()
    storing.join()
    after = attribution_run(sale_ids=[bought.pk])
    bought.refresh_from_db()
    assert (after.attributed, bought.attribution, bought.placement_id, bought.attributed_key) == (
        1,
        "attributed",
        placement.pk,
        "coupon_code",
    )


def test_a_touchpoint_stored_while_a_pass_decides_waits_and_sends_its_sale_back(transactional_db, world):
    # Given: a pass that has locked a sale and decided it (no touchpoint yet: unattributed)
    # but not committed.
    from revenue.services.attribution import attribution_run
    from revenue.services.ingestion import touchpoints_ingest
    from tests.support.revenue import sale

    partner, placement, _ = _partner(world, "Asia/Tokyo")
    october = datetime(2026, 10, 5, 12, tzinfo=ZoneInfo("Asia/Tokyo"))
    bought = sale(partner, october, 7_000, coupon_code="LATE-2")
    hold, release = threading.Event(), threading.Event()
    deciding = transaction_in_thread(lambda: attribution_run(sale_ids=[bought.pk]), hold=hold, release=release)
    assert hold.wait(10)

    # When: the sale's touchpoint is stored meanwhile, then the pass commits.
    stored = threading.Event()

    def store() -> None:
        try:
            touchpoints_ingest(partner=partner, touchpoints=[_coupon(placement, "LATE-2", october - timedelta(days=1))])
            stored.set()
        finally:
            connections.close_all()

    storing = threading.Thread(target=store)
    storing.start()
    deadline = time.monotonic() + 5
    while not blocked_backends() and not stored.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    waited = not stored.is_set()
    release.set()
    deciding.join()
    storing.join()

    # Then: storing the touchpoint waited for the pass and sent the sale back to pending, so
    # the next pass credits it.
    bought.refresh_from_db()
    assert (waited, stored.is_set(), bought.attribution) == (True, True, "pending")
    attribution_run(sale_ids=[bought.pk])
    bought.refresh_from_db()
    assert (bought.attribution, bought.placement_id) == ("attributed", placement.pk)
