"""Placements whose accepted terms start in a later period wait as approved, and the beat
task activates them once the period begins in the partner's own time zone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from contracts import services
from contracts.models import Placement, PlacementTransition
from core.models import AuditLog
from tests.support.world import design_terms, next_period_start_for


def _accepted_from_next_period(world):
    placement = services.placement_request(actor=world.hoshi_owner, employee=world.rinna)
    services.placement_approve(actor=world.hoshi_manager, placement=placement)
    placement.refresh_from_db()
    start = next_period_start_for(placement.partner)
    version = services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=design_terms(), effective_from=start
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=version)
    services.contract_version_accept(actor=world.hoshi_owner, version=version)
    placement.refresh_from_db()
    return placement, start


def test_accepting_future_terms_keeps_the_placement_approved(world):
    placement, _ = _accepted_from_next_period(world)
    assert placement.status == Placement.Status.APPROVED
    assert services.placements_activate_due() == []
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.APPROVED


def test_activation_waits_for_midnight_in_the_partners_zone(world):
    # given terms that start on the 1st of next month, Tokyo time
    placement, start = _accepted_from_next_period(world)
    tokyo = ZoneInfo("Asia/Tokyo")
    midnight_tokyo = datetime(start.year, start.month, start.day, tzinfo=tokyo)

    # when beat runs one minute before midnight in Tokyo, nothing happens
    assert services.placements_activate_due(now=midnight_tokyo - timedelta(minutes=1)) == []
    # when it runs at midnight in Tokyo (still the previous day in UTC), it activates
    assert services.placements_activate_due(now=midnight_tokyo) == [placement.pk]
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.ACTIVE
    transition = PlacementTransition.objects.filter(placement=placement).last()
    assert (transition.from_status, transition.to_status, transition.actor_label) == (
        "approved",
        "active",
        "system:beat",
    )
    assert AuditLog.objects.filter(action="placement.activated").get().actor_label == "system:beat"
    # and running it again changes nothing
    assert services.placements_activate_due(now=midnight_tokyo) == []
    assert PlacementTransition.objects.filter(placement=placement, to_status="active").count() == 1
