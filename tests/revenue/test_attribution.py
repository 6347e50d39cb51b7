"""Attribution by DESIGN.md §5a: keys, window, last/first touch, tie-breaks, versions."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts import services
from revenue.models import Sale
from revenue.services.attribution import attribution_reopen, attribution_run
from tests.support.revenue import backdate, sale, touch
from tests.support.world import design_terms, hire, next_period_start_for

TOKYO = ZoneInfo("Asia/Tokyo")


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TOKYO)


@pytest.fixture
def rinna(world):
    # active on DESIGN terms: 14 days, last touch, keys conversation > click > coupon
    return backdate(hire(world))


def _attributed(s: Sale) -> tuple:
    s.refresh_from_db()
    return (s.attribution, s.placement_id, s.touchpoint_id, s.attributed_key)


def test_a_sale_with_an_issued_coupon_inside_the_window_is_attributed(world, rinna):
    coupon = touch(rinna, "coupon", "RINNA-7F3K2", at(1))
    bought = sale(world.hoshi, at(3), 1280, coupon_code="RINNA-7F3K2")
    assert attribution_run().attributed == 1
    assert _attributed(bought) == ("attributed", rinna.pk, coupon.pk, "coupon_code")
    assert bought.attribution_note == (
        "coupon_code RINNA-7F3K2, touched 2026-10-01 03:00 UTC, 2 days after the touch; "
        "last touch of 1 eligible touchpoint(s)."
    )


@pytest.mark.parametrize(
    "offset, expected",
    [
        (timedelta(0), "attributed"),  # the touch's own instant
        (timedelta(days=14), "attributed"),  # the window's last instant
        (timedelta(days=14, seconds=1), "unattributed"),  # just past it
        (timedelta(seconds=-1), "unattributed"),  # before the touch
    ],
)
def test_the_window_is_inclusive_at_both_ends(world, rinna, offset, expected):
    touch(rinna, "click", "clk-1", at(1))
    bought = sale(world.hoshi, at(1) + offset, 500, click_id="clk-1")
    attribution_run()
    bought.refresh_from_db()
    assert bought.attribution == expected


def test_last_touch_takes_the_latest_touch_and_ties_go_by_key_order_then_id(world, rinna):
    coupon = touch(rinna, "coupon", "C1", at(5))
    click = touch(rinna, "click", "K1", at(5))  # same instant as the coupon
    older = touch(rinna, "conversation", "V1", at(2))
    bought = sale(world.hoshi, at(6), 900, coupon_code="C1", click_id="K1", conversation_id="V1")
    attribution_run()
    # latest instant wins over the older conversation; between coupon and click at the same
    # instant the contract's key order (conversation_id, click_id, coupon_code) picks click
    assert _attributed(bought)[2] == click.pk
    assert older.pk and coupon.pk


def test_first_touch_takes_the_earliest(world):
    placement = backdate(
        hire(
            world,
            terms=design_terms(
                attribution={"window_days": 30, "model": "first_touch", "keys": ["coupon_code", "click_id"]}
            ),
        )
    )
    first = touch(placement, "click", "K1", at(2))
    touch(placement, "coupon", "C1", at(9))
    bought = sale(world.hoshi, at(10), 900, coupon_code="C1", click_id="K1")
    attribution_run()
    assert _attributed(bought)[2] == first.pk


def test_keys_the_contract_does_not_count_are_ignored(world):
    placement = backdate(
        hire(world, terms=design_terms(attribution={"window_days": 14, "model": "last_touch", "keys": ["coupon_code"]}))
    )
    touch(placement, "click", "K1", at(2))
    bought = sale(world.hoshi, at(3), 900, click_id="K1")
    attribution_run()
    bought.refresh_from_db()
    assert bought.attribution == "unattributed"
    assert bought.attribution_note.startswith("Touchpoints carry its keys, but none within")


def test_another_partners_touchpoint_with_the_same_key_never_matches(world, rinna):
    wayfarer_rinna = hire(world, partner="wayfarer", terms=design_terms(currency="USD"))
    touch(backdate(wayfarer_rinna), "coupon", "SHARED", at(1))
    bought = sale(world.hoshi, at(2), 700, coupon_code="SHARED")
    attribution_run()
    bought.refresh_from_db()
    assert (bought.attribution, bought.placement_id) == ("unattributed", None)
    assert bought.attribution_note == "No employee touchpoint carries this sale's keys."


def test_a_sale_without_keys_says_so(world, rinna):
    bought = sale(world.hoshi, at(2), 700)
    attribution_run()
    bought.refresh_from_db()
    assert bought.attribution_note == "The sale carries no coupon code, click id or conversation id."


def test_one_sale_credits_one_placement_and_the_version_in_force_decides(world, rinna):
    # given Kai also placed at Hoshi Mart, whose contract counts only conversations
    kai = backdate(
        hire(
            world,
            employee="kai",
            terms=design_terms(attribution={"window_days": 3, "model": "last_touch", "keys": ["conversation_id"]}),
        )
    )
    touch(rinna, "coupon", "C1", at(1))
    talk = touch(kai, "conversation", "V1", at(2))
    early = sale(world.hoshi, at(3), 100, coupon_code="C1", conversation_id="V1")
    late = sale(world.hoshi, at(6), 100, coupon_code="C1", conversation_id="V1")  # past Kai's 3 days
    attribution_run()
    assert _attributed(early)[1:3] == (kai.pk, talk.pk)  # last touch: Kai's later touch
    assert _attributed(late)[1] == rinna.pk  # Kai's window closed; Rinna's open
    assert Sale.objects.filter(attribution="attributed").count() == 2


def test_a_new_version_applies_from_its_period(world):
    placement = hire(
        world, terms=design_terms(attribution={"window_days": 1, "model": "last_touch", "keys": ["coupon_code"]})
    )
    manager, owner = world.hoshi_manager, world.hoshi_owner
    start = next_period_start_for(placement.partner)
    amendment = services.contract_version_draft(
        actor=manager,
        placement=placement,
        effective_from=start,
        terms=design_terms(attribution={"window_days": 30, "model": "last_touch", "keys": ["coupon_code"]}),
    )
    services.contract_version_propose(actor=manager, version=amendment)
    services.contract_version_accept(actor=owner, version=amendment)
    touch_time = datetime(start.year, start.month, 1, tzinfo=TOKYO) - timedelta(days=3)
    touch(placement, "coupon", "C9", touch_time)
    before = sale(world.hoshi, touch_time + timedelta(days=2), 100, coupon_code="C9")  # old 1-day window
    after = sale(world.hoshi, touch_time + timedelta(days=4), 100, coupon_code="C9")  # new 30-day window
    attribution_run()
    before.refresh_from_db()
    after.refresh_from_db()
    assert (before.attribution, after.attribution) == ("unattributed", "attributed")


def test_reopening_sends_unsettled_sales_back_and_rerunning_is_deterministic(world, rinna):
    touch(rinna, "coupon", "C1", at(1))
    bought = sale(world.hoshi, at(2), 100, coupon_code="C1")
    attribution_run()
    first = _attributed(bought)
    assert attribution_reopen() == 1
    assert _attributed(bought) == ("pending", None, None, "")
    attribution_run()
    assert _attributed(bought) == first
    assert attribution_run().attributed == 0  # nothing pending: nothing touched


def _mixed_month(world, rinna):
    """Sales of every kind of decision: one key, several keys, first touch, outside the
    window, a key no contract counts, no touchpoint, no key."""
    kai = backdate(
        hire(
            world,
            employee="kai",
            terms=design_terms(
                attribution={"window_days": 5, "model": "first_touch", "keys": ["click_id", "conversation_id"]}
            ),
        )
    )
    touch(rinna, "coupon", "C1", at(1))
    touch(rinna, "click", "K1", at(3))
    touch(kai, "click", "K2", at(2))
    touch(kai, "conversation", "V1", at(4))
    keys = [
        {"coupon_code": "C1"},
        {"coupon_code": "C1", "click_id": "K1"},
        {"click_id": "K2", "conversation_id": "V1"},
        {"coupon_code": "C1", "conversation_id": "V1"},
        {"click_id": "K2"},
        {"coupon_code": "NOPE"},
        {},
    ]
    return [sale(world.hoshi, at(day), 100 * day, **key) for day in (4, 6, 9, 20) for key in keys]


def _decisions():
    return list(
        Sale.objects.order_by("pk").values_list(
            "pk", "attribution", "placement_id", "touchpoint_id", "attributed_key", "attribution_note"
        )
    )


def test_a_batch_by_id_decides_exactly_as_a_whole_pass(world, rinna):
    # given a month of mixed sales attributed in one whole pass
    sales = _mixed_month(world, rinna)
    attribution_run()
    whole_pass = _decisions()
    # when the same sales go back to pending and are attributed as ingestion hands them over:
    # in batches by id, which reach their touchpoints through the unique key
    attribution_reopen()
    ids = [s.pk for s in sales]
    attribution_run(sale_ids=ids[:9])
    attribution_run(sale_ids=ids[9:])
    # then every decision and every explanation is the same
    assert _decisions() == whole_pass
    # (by hand: C1 and C1+K1 and K2+V1 and C1+V1 on days 4, 6 and 9; K2 alone on days 4 and 6)
    assert Sale.objects.filter(attribution="attributed").count() == 14
    # and a sale carrying a last-touch and a first-touch contract's keys goes to the last-touch one
    assert _attributed(sales[3])[1] == rinna.pk


def test_the_sweep_explains_the_oldest_pending_sales_a_bounded_batch_at_a_time(world, rinna):
    # given three sales whose hand-over to attribution was lost
    from revenue.tasks import attribution_sweep

    touch(rinna, "coupon", "C1", at(1))
    first, second, third = (sale(world.hoshi, at(2), 100, coupon_code="C1") for _ in range(3))
    # when the sweep runs with room for two, twice, then once more
    assert attribution_sweep(limit=2) == 2
    assert [_attributed(s)[0] for s in (first, second, third)] == ["attributed", "attributed", "pending"]
    assert attribution_sweep(limit=2) == 1
    assert _attributed(third)[0] == "attributed"
    # then a sweep with nothing pending changes nothing
    before = _decisions()
    assert attribution_sweep(limit=2) == 0
    assert _decisions() == before
