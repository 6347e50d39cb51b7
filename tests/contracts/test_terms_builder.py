"""The terms builder, end to end through the console: a form post stores exactly what the
JSON path stores, the preview says what the partner will read (the partner reads the same
sentences), each problem shows under its field, and a first version defaults to the next
period start in the partner's zone."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from contracts import services
from contracts.models import ContractVersion
from contracts.selectors import next_period_start
from tests.support.web import browser, db_state, text
from tests.support.world import design_terms, hire, next_period_start_for

# DESIGN.md §5a's terms, typed into the builder: percentages and major units.
DESIGN_FIELDS = {
    "mode": "builder",
    "share_model": "graduated",
    "flat_rate": "",
    "tier_up_to_0": "1000000",
    "tier_rate_0": "8",
    "tier_up_to_1": "",
    "tier_rate_1": "5",
    "fee_resolution": "90",
    "fee_delivered_work": "50000",
    "minimum": "300000",
    "cap": "",
    "window_days": "14",
    "attribution_model": "last_touch",
    "attribution_keys": ["conversation_id", "click_id", "coupon_code"],
    "hold_days": "30",
    "split_payee_0": "platform",
    "split_share_0": "70",
    "split_payee_1": "studio-aoi",
    "split_share_1": "30",
}

DESIGN_PREVIEW = [
    "8% of net revenue up to JPY 1,000,000, then 5% of the part above JPY 1,000,000, each month.",
    "Plus JPY 50,000 per delivered work.",
    "Plus JPY 90 per resolved conversation.",
    "At least JPY 300,000 a month, whatever the sales (minimum wage).",
    "A sale counts when it carries the employee's Conversation, Tracked link click or Coupon code, within 14 "
    "days of it; when several match, the latest touch wins.",
    "The wage is shared: Haken platform 70%, Studio Aoi 30%; paid out 30 days after your payment.",
    # no "review" in the terms: the default window of revenue inquiries
    "You may question a statement's lines or sales for 7 days after it is sent to you for review; it is not "
    "approved while a question is open.",
]


@pytest.fixture
def approved(world):
    return hire(world, until="approved")


def fields(**overrides):
    return {**DESIGN_FIELDS, "effective_from": next_period_start_for_today(), **overrides}


def next_period_start_for_today() -> str:
    return next_period_start(timezone.now().astimezone(ZoneInfo("Asia/Tokyo")).date()).isoformat()


def test_the_builder_stores_what_the_json_path_stores_and_previews_it_exactly(world, approved):
    manager = browser(world.hoshi_manager)
    # given the console shows the builder, starting at the next period start (not this month's 1st)
    response = manager.get(reverse("console-placement", args=[approved.pk]))
    assert response.status_code == 200
    builder = response.context["builder"]
    assert builder.initial["effective_from"] == next_period_start_for(world.hoshi)
    assert response.context["terms_form"].initial["effective_from"] == next_period_start_for(world.hoshi)
    # when the manager previews DESIGN's terms typed into the builder (htmx)
    response = manager.post(
        reverse("console-terms-check", args=[approved.pk]), fields(builder_action="preview"), HTTP_HX_REQUEST="true"
    )
    # then the plain-language reading is exact, and nothing was saved
    assert response.status_code == 200
    assert response.context["errors"] == {}
    assert [line.text for line in response.context["lines"]] == DESIGN_PREVIEW
    assert ContractVersion.objects.count() == 0
    # when they save it
    response = manager.post(reverse("console-terms-draft", args=[approved.pk]), fields())
    # then version 1 holds exactly the terms the JSON path stores for DESIGN's example
    assert response.status_code == 302
    version = ContractVersion.objects.get()
    via_builder = version.terms
    assert version.effective_from == next_period_start_for(world.hoshi)
    services.contract_version_withdraw(actor=world.hoshi_manager, version=version, reason="compare")
    # (the builder writes 70% as "0.7"; typed the same way, the JSON path stores the same)
    same_terms = design_terms(splits=[{"payee": "platform", "share": "0.7"}, {"payee": "studio-aoi", "share": "0.3"}])
    response = manager.post(
        reverse("console-terms-draft", args=[approved.pk]),
        {"effective_from": next_period_start_for_today(), "terms": json.dumps(same_terms)},
    )
    assert response.status_code == 302
    via_json = ContractVersion.objects.get(number=2).terms
    assert via_builder == via_json == same_terms
    # and the partner reviewing the proposed terms reads the same sentences, with payees by name
    services.contract_version_propose(actor=world.hoshi_manager, version=ContractVersion.objects.get(number=2))
    response = browser(world.hoshi_owner).get(reverse("portal-placement", args=[approved.pk]))
    page = text(response)
    for line in DESIGN_PREVIEW:
        assert line in page
    assert "conversation_id" not in page and "studio-aoi" not in page


def test_the_builder_opens_an_existing_draft_with_its_values(world, approved):
    services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=approved,
        terms=design_terms(),
        effective_from=date.fromisoformat(next_period_start_for_today()),
    )
    response = browser(world.hoshi_manager).get(reverse("console-placement", args=[approved.pk]))
    initial = response.context["builder"].initial
    assert (
        initial["share_model"],
        initial["tier_up_to_0"],
        initial["tier_rate_0"],
        initial["tier_up_to_1"],
        initial["tier_rate_1"],
        initial["split_payee_1"],
        initial["split_share_1"],
        initial["minimum"],
    ) == ("graduated", 1000000, 8, None, 5, "studio-aoi", 30, 300000)
    assert [line.text for line in response.context["builder_preview"]] == DESIGN_PREVIEW


def test_each_problem_shows_under_its_field_and_nothing_is_saved(world, approved):
    manager = browser(world.hoshi_manager)
    before = db_state()
    # when the manager saves tiers that do not ascend, a rate above 100% and splits that do not add up
    response = manager.post(
        reverse("console-terms-draft", args=[approved.pk]),
        fields(
            tier_up_to_0="500000",
            tier_rate_0="150",
            tier_up_to_1="400000",
            tier_rate_1="5",
            tier_up_to_2="",
            tier_rate_2="4",
            split_share_1="20",
            window_days="0",
        ),
    )
    # then 400, each message beside its field in the builder's units, and nothing stored
    assert response.status_code == 400
    errors = response.context["builder"].errors
    assert errors["tier_rate_0"] == ["must be between 0% and 100%; got 150%."]
    assert errors["tier_up_to_1"] == ["tiers must ascend: 400000 is not above the previous bound 500000."]
    assert errors["window_days"] == ["must be a whole number of days from 1 to 365."]
    assert errors["__all__"] == ["splits: shares must sum to exactly 1; they sum to 0.9."]
    assert db_state() == before
    assert ContractVersion.objects.count() == 0


def test_shape_errors_are_caught_by_the_form_first(world, approved):
    manager = browser(world.hoshi_manager)
    before = db_state()
    response = manager.post(
        reverse("console-terms-draft", args=[approved.pk]), fields(minimum="12.5", window_days="a week")
    )
    assert response.status_code == 400
    errors = response.context["builder"].errors
    assert errors["window_days"] == ["Enter a whole number."]
    assert db_state() == before


def test_splits_that_do_not_sum_to_one_are_reported_on_the_form(world, approved):
    manager = browser(world.hoshi_manager)
    before = db_state()
    response = manager.post(reverse("console-terms-draft", args=[approved.pk]), fields(split_share_1="20"))
    assert response.status_code == 400
    assert response.context["builder"].non_field_errors() == ["splits: shares must sum to exactly 1; they sum to 0.9."]
    assert "shares must sum to exactly 1; they sum to 0.9." in text(response)
    assert db_state() == before


def test_adding_and_removing_rows_saves_nothing(world, approved):
    manager = browser(world.hoshi_manager)
    response = manager.post(reverse("console-terms-draft", args=[approved.pk]), fields(builder_action="add-tier"))
    assert response.status_code == 200
    assert response.context["builder"].tier_count == 3
    response = manager.post(reverse("console-terms-draft", args=[approved.pk]), fields(builder_action="remove-tier-0"))
    builder = response.context["builder"]
    assert builder.tier_count == 1
    assert (builder["tier_up_to_0"].value(), builder["tier_rate_0"].value()) == ("", "5")
    response = manager.post(reverse("console-terms-draft", args=[approved.pk]), fields(builder_action="remove-split-0"))
    builder = response.context["builder"]
    assert (builder.split_count, builder["split_payee_0"].value()) == (1, "studio-aoi")
    assert ContractVersion.objects.count() == 0


def test_the_default_effective_date_is_the_next_period_start_in_the_partners_zone(world, approved, monkeypatch):
    # given 2026-10-31 16:30 UTC, already November 1st in Tokyo
    moment = datetime(2026, 10, 31, 16, 30, tzinfo=ZoneInfo("UTC"))
    monkeypatch.setattr(timezone, "now", lambda: moment)
    response = browser(world.hoshi_manager).get(reverse("console-placement", args=[approved.pk]))
    # then the builder starts on December 1st, the next period start in Asia/Tokyo
    assert response.context["builder"].initial["effective_from"] == date(2026, 12, 1)
