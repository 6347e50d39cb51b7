"""Contract-version services where the API cannot reach or time matters: deciding on a
draft, terms whose start passed while they waited, who hears about what."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import services
from contracts.models import ContractVersion, Notification, Placement
from contracts.selectors import next_period_start
from core.errors import InvalidTransition, ValidationFailed
from core.models import AuditLog
from tests.support.api import assert_error, db_state
from tests.support.world import DESIGN_TERMS, api_as, hire, this_period


def draft_v1(world) -> ContractVersion:
    placement = hire(world, until="approved")
    return services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=DESIGN_TERMS, effective_from=this_period(world.hoshi)
    )


def travel_to(monkeypatch, day: date) -> None:
    """Make it `day` in every partner's zone, as far as contract services can tell."""
    monkeypatch.setattr(services, "partner_today", lambda *, partner, now=None: day)


@pytest.mark.parametrize(
    ("decide", "message"),
    [
        (
            lambda world, version: services.contract_version_accept(actor=world.hoshi_owner, version=version),
            "Version 1 is draft; only proposed terms can be accepted.",
        ),
        (
            lambda world, version: services.contract_version_reject(
                actor=world.hoshi_owner, version=version, reason="No"
            ),
            "Version 1 is draft; only proposed terms can be rejected.",
        ),
    ],
    ids=["accept", "reject"],
)
def test_a_draft_cannot_be_decided(world, decide, message):
    # given a draft the partner was never sent
    version = draft_v1(world)
    before = db_state()
    # when the owner's decision reaches the service anyway
    with pytest.raises(InvalidTransition) as caught:
        decide(world, version)
    # then it is an invalid transition, and nothing changed
    assert caught.value.message == message
    assert db_state() == before


def test_terms_whose_start_passed_cannot_be_accepted(world, monkeypatch):
    # given v1 proposed from this period, and the partner answering next period
    placement = hire(world, until="proposed")
    start = this_period(world.hoshi)
    later = next_period_start(start)
    travel_to(monkeypatch, later)
    before = db_state()
    # when the owner accepts through the API
    response = api_as(world.hoshi_owner).post(f"/api/v1/contracts/{placement.contract.pk}/versions/1/accept")
    # then 409 explains the start has passed and when terms could start now; nothing changed
    error = assert_error(response, 409, "invalid_transition", {"effective_from": [f"must be {later} or later."]})
    assert error["message"] == (
        f"These terms were to start on {start}, which has passed; ask your account manager for new terms."
    )
    assert db_state() == before
    # and the manager can withdraw them and send new ones from the new period
    version = placement.contract.versions.get(number=1)
    services.contract_version_withdraw(actor=world.hoshi_manager, version=version, reason="Stale")
    v2 = services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=DESIGN_TERMS, effective_from=later
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=v2)
    services.contract_version_accept(actor=world.hoshi_owner, version=v2)
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.ACTIVE


def test_proposing_rechecks_the_start_date(world, monkeypatch):
    # given a draft from this period, proposed only next period
    version = draft_v1(world)
    later = next_period_start(this_period(world.hoshi))
    travel_to(monkeypatch, later)
    before = db_state()
    # when the manager proposes it
    with pytest.raises(ValidationFailed) as caught:
        services.contract_version_propose(actor=world.hoshi_manager, version=version)
    # then the start date is refused, and nothing changed
    assert caught.value.fields == {"effective_from": [f"must be {later} or later."]}
    assert db_state() == before


def test_accepting_future_terms_waits_for_the_period(world):
    # given v1 proposed from next period
    placement = hire(world, until="approved")
    later = next_period_start(this_period(world.hoshi))
    version = services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=DESIGN_TERMS, effective_from=later
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=version)
    # when the owner accepts
    services.contract_version_accept(actor=world.hoshi_owner, version=version)
    # then the terms are accepted but the placement stays approved until they start
    assert ContractVersion.objects.get(pk=version.pk).status == ContractVersion.Status.ACCEPTED
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.APPROVED
    assert not AuditLog.objects.filter(action="placement.activated").exists()


def _notices() -> list[tuple[str, str]]:
    return list(Notification.objects.order_by("recipient__username").values_list("recipient__username", "url"))


def test_drafts_notify_only_the_platform_and_proposals_reach_the_partner(world):
    # given staff drafting terms for Hoshi Mart (so the account manager is not the actor)
    placement = hire(world, until="approved")
    version = services.contract_version_draft(
        actor=world.staff, placement=placement, terms=DESIGN_TERMS, effective_from=this_period(world.hoshi)
    )
    drafted = AuditLog.objects.get(action="contract.drafted")
    # when the notifications for the draft are sent
    made = services.notifications_send(audit_entry_id=drafted.pk)
    # then only the account manager hears of it
    assert made == 1
    assert _notices() == [("am-hoshi", f"/console/placements/{placement.pk}/")]
    # when staff proposes it and the notifications are sent (twice: the task may run again)
    services.contract_version_propose(actor=world.staff, version=version)
    proposed = AuditLog.objects.get(action="contract.proposed")
    assert services.notifications_send(audit_entry_id=proposed.pk) == 2
    assert services.notifications_send(audit_entry_id=proposed.pk) == 0
    # then the partner's owner (who also requested the hire) and the manager hear once each
    assert list(
        Notification.objects.filter(audit_entry=proposed)
        .order_by("recipient__username")
        .values_list("recipient__username", "url")
    ) == [("am-hoshi", f"/console/placements/{placement.pk}/"), ("hoshi-owner", f"/portal/placements/{placement.pk}/")]


def test_ending_a_placement_withdraws_its_open_version(world):
    # given an active placement with an amendment proposed
    placement = hire(world)
    amendment = services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=placement,
        terms=DESIGN_TERMS,
        effective_from=next_period_start(this_period(world.hoshi)),
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=amendment)
    # when the owner ends the placement
    services.placement_end(actor=world.hoshi_owner, placement=placement, reason="Closing stores")
    # then the amendment is withdrawn on the owner's behalf, and v1 stays accepted
    amendment.refresh_from_db()
    assert (amendment.status, amendment.decided_by_id, amendment.decision_note) == (
        "withdrawn",
        world.hoshi_owner.pk,
        "Placement ended",
    )
    assert placement.contract.versions.get(number=1).status == "accepted"
    # and nothing can be proposed or drafted for it any more
    with pytest.raises(InvalidTransition):
        services.contract_version_draft(
            actor=world.hoshi_manager,
            placement=placement,
            terms=DESIGN_TERMS,
            effective_from=next_period_start(this_period(world.hoshi)),
        )
