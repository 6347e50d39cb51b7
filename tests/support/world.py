"""The scene every test starts from (the `world` fixture in tests/fixtures/world.py builds
it) and the helpers that drive it: the canonical contract terms, a hire through the real
services up to any state, the partner's current period, API clients signed in as someone."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

from rest_framework.test import APIClient

from contracts import services
from contracts.models import Partner, Placement
from contracts.selectors import next_period_start, partner_today, period_start
from core.models import User
from employees.models import DigitalEmployee

# DESIGN.md §5a's example, verbatim: the canonical shape every test starts from.
DESIGN_TERMS: dict[str, Any] = {
    "currency": "JPY",
    "period": "monthly",
    "share": {"model": "graduated", "tiers": [{"up_to": 1000000, "rate": "0.08"}, {"up_to": None, "rate": "0.05"}]},
    "outcome_fees": {"resolution": 90, "delivered_work": 50000},
    "minimum_per_period": 300000,
    "cap_per_period": None,
    "attribution": {"window_days": 14, "model": "last_touch", "keys": ["conversation_id", "click_id", "coupon_code"]},
    "hold_days": 30,
    "splits": [{"payee": "platform", "share": "0.70"}, {"payee": "studio-aoi", "share": "0.30"}],
}


def design_terms(**overrides: Any) -> dict[str, Any]:
    terms = copy.deepcopy(DESIGN_TERMS)
    terms.update(overrides)
    return terms


@dataclass
class World:
    """Two partners with their people, so every test can check the other side sees nothing."""

    hoshi: Partner
    hoshi_owner: User
    hoshi_member: User
    hoshi_manager: User
    wayfarer: Partner
    wayfarer_owner: User
    wayfarer_manager: User
    finance: User
    staff: User
    rinna: DigitalEmployee
    kai: DigitalEmployee
    # The second pair of eyes: approves what `finance` sent to review (FOUR_EYES_THRESHOLD).
    finance2: User


def this_period(partner: Partner) -> date:
    return period_start(partner_today(partner=partner))


def next_period_start_for(partner: Partner) -> date:
    return next_period_start(partner_today(partner=partner))


def hire(
    world: World,
    *,
    partner: str = "hoshi",
    employee: str = "rinna",
    until: str = "active",
    terms: dict[str, Any] | None = None,
) -> Placement:
    """A placement driven through the real services up to `until`."""
    owner = getattr(world, f"{partner}_owner")
    manager = getattr(world, f"{partner}_manager")
    placement = services.placement_request(actor=owner, employee=getattr(world, employee), note="")
    if until == "requested":
        return placement
    services.placement_approve(actor=manager, placement=placement)
    if until == "approved":
        return Placement.objects.get(pk=placement.pk)
    placement.refresh_from_db()
    currency = placement.partner.currency
    version = services.contract_version_draft(
        actor=manager,
        placement=placement,
        terms=terms or design_terms(currency=currency),
        effective_from=this_period(placement.partner),
    )
    services.contract_version_propose(actor=manager, version=version)
    if until == "proposed":
        return Placement.objects.get(pk=placement.pk)
    services.contract_version_accept(actor=owner, version=version)
    placement = Placement.objects.get(pk=placement.pk)
    if until == "paused":
        services.placement_pause(actor=manager, placement=placement, reason="Store refit")
        placement.refresh_from_db()
    return placement


def api_as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client
