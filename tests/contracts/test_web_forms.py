"""Bad input and refused actions in the web UI: a clear message, the right 4xx status,
and nothing changed in the database."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from contracts import services
from contracts.models import ContractVersion, PartnerApiKey, Placement
from contracts.services import api_key_digest
from tests.support.web import (
    browser,
    db_state,
    text,
)
from tests.support.world import DESIGN_TERMS, design_terms, hire, next_period_start_for, this_period

# --- contract terms ------------------------------------------------------------------------


@pytest.fixture
def approved(world) -> Placement:
    return hire(world, until="approved")


def test_invalid_json_in_the_draft_form_is_a_400_with_the_parse_error(world, approved):
    # given an approved placement with no version yet
    manager = browser(world.hoshi_manager)
    before = db_state()
    # when the manager submits terms with a trailing comma
    response = manager.post(
        reverse("console-terms-draft", args=[approved.pk]),
        {
            "effective_from": this_period(world.hoshi).isoformat(),
            "terms": '{"currency": "JPY",}',
        },
    )
    # then the page comes back with the JSON error where it was typed, and no version exists
    assert response.status_code == 400
    page = text(response)
    assert ("This is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 20.") in page
    assert response.context["terms_form"].data["terms"] == '{"currency": "JPY",}'
    assert ContractVersion.objects.count() == 0
    assert db_state() == before


def test_terms_of_the_wrong_shape_are_a_400_listing_every_problem_by_path(world, approved):
    # given an approved placement
    manager = browser(world.hoshi_manager)
    before = db_state()
    bad = design_terms(
        currency="USD",
        share={"model": "graduated", "tiers": [{"up_to": 1000000, "rate": "0.08"}, {"up_to": 5, "rate": "8%"}]},
        splits=[{"payee": "platform", "share": "0.70"}, {"payee": "nobody", "share": "0.20"}],
    )
    # when the manager saves them
    response = manager.post(
        reverse("console-terms-draft", args=[approved.pk]),
        {"effective_from": this_period(world.hoshi).isoformat(), "terms": json.dumps(bad)},
    )
    # then each problem is shown under its JSON path, and no version was made
    assert response.status_code == 400
    assert response.context["terms_errors"] == {
        "currency": ["must be JPY, the currency of this partner's contract."],
        "share.tiers[1].up_to": [
            "tiers must ascend: 5 is not above the previous bound 1000000.",
            "the last tier must be open (up_to: null).",
        ],
        "share.tiers[1].rate": ["must be a decimal string such as \"0.05\"; got '8%'."],
        "splits[1].payee": ["unknown payee 'nobody'."],
    }
    page = text(response)
    assert "<code>splits[1].payee</code> unknown payee 'nobody'." in page
    assert "The contract terms have 5 problem(s)" in page
    assert db_state() == before


def test_terms_that_are_json_but_not_an_object_are_a_400(world, approved):
    # given an approved placement
    before = db_state()
    # when the manager saves a JSON list
    response = browser(world.hoshi_manager).post(
        reverse("console-terms-draft", args=[approved.pk]),
        {"effective_from": this_period(world.hoshi).isoformat(), "terms": "[1, 2]"},
    )
    # then the service's message is shown and nothing is saved
    assert response.status_code == 400
    assert "Contract terms must be a JSON object." in text(response)
    assert db_state() == before


def test_a_start_date_inside_a_month_is_a_400(world, approved):
    # given an approved placement
    before = db_state()
    start = this_period(world.hoshi).replace(day=2)
    # when the manager picks the 2nd of the month
    response = browser(world.hoshi_manager).post(
        reverse("console-terms-draft", args=[approved.pk]),
        {"effective_from": start.isoformat(), "terms": json.dumps(DESIGN_TERMS)},
    )
    # then they are told versions start on the 1st, and nothing is saved
    assert response.status_code == 400
    assert response.context["terms_errors"] == {"effective_from": [f"{start} is not the first day of a month."]}
    assert "A contract version starts at a period boundary (the 1st of a month)." in text(response)
    assert db_state() == before


def test_a_missing_start_date_is_a_400(world, approved):
    # given an approved placement
    before = db_state()
    # when the manager leaves the date empty
    response = browser(world.hoshi_manager).post(
        reverse("console-terms-draft", args=[approved.pk]), {"effective_from": "", "terms": json.dumps(DESIGN_TERMS)}
    )
    # then the form says so, and nothing is saved
    assert response.status_code == 400
    assert response.context["terms_form"].errors == {"effective_from": ["This field is required."]}
    assert db_state() == before


@pytest.mark.parametrize(
    ("terms", "errors"),
    [
        (
            "{not json",
            {
                "terms": [
                    "This is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2."
                ]
            },
        ),
        (json.dumps(design_terms(hold_days=-1)), {"hold_days": ["must be a whole number of days from 0 to 365."]}),
    ],
)
def test_the_check_button_reports_problems_with_a_422_fragment(world, approved, terms, errors):
    # given an approved placement
    before = db_state()
    # when the manager checks bad terms through htmx
    response = browser(world.hoshi_manager).post(
        reverse("console-terms-check", args=[approved.pk]), {"terms": terms}, HTTP_HX_REQUEST="true"
    )
    # then a fragment lists the problems by path (htmx swaps 422s in, see base.html)
    assert response.status_code == 422
    assert response.context["errors"] == errors
    assert "These terms are not valid yet" in text(response)
    assert "<html" not in text(response)
    assert db_state() == before


def test_invalid_json_when_editing_a_draft_keeps_the_draft_as_it_was(world, approved):
    # given a draft version 1
    manager = browser(world.hoshi_manager)
    services.contract_version_draft(
        actor=world.hoshi_manager, placement=approved, terms=design_terms(), effective_from=this_period(world.hoshi)
    )
    before = db_state()
    # when the manager saves broken JSON over it
    response = manager.post(
        reverse("console-version-update", args=[approved.pk, 1]),
        {"effective_from": this_period(world.hoshi).isoformat(), "terms": '{"share": '},
    )
    # then the edit form comes back with the error, and the draft is unchanged
    assert response.status_code == 400
    assert "This is not valid JSON" in text(response)
    assert response.context["editing"] is True
    assert db_state() == before


def test_drafting_while_a_version_is_open_is_a_409(world, approved):
    # given a draft version 1 already open
    services.contract_version_draft(
        actor=world.hoshi_manager, placement=approved, terms=design_terms(), effective_from=this_period(world.hoshi)
    )
    before = db_state()
    # when a second draft is posted (say from a stale tab)
    response = browser(world.hoshi_manager).post(
        reverse("console-terms-draft", args=[approved.pk]),
        {"effective_from": next_period_start_for(world.hoshi).isoformat(), "terms": json.dumps(DESIGN_TERMS)},
    )
    # then it is a conflict, and nothing changed
    assert response.status_code == 409
    assert "Version 1 is still draft; edit or withdraw it first." in text(response)
    assert db_state() == before


def test_finance_reads_the_console_but_cannot_draft(world, approved):
    # given finance, who sees every partner
    finance = browser(world.finance)
    # when they open the placement
    response = finance.get(reverse("console-placement", args=[approved.pk]))
    # then they see it without the draft form or actions
    assert response.status_code == 200
    assert response.context["terms_form"] is None
    assert 'id="actions"' not in text(response)
    assert "End placement" not in text(response)
    # and a forged draft post is refused with nothing changed
    before = db_state()
    response = finance.post(
        reverse("console-terms-draft", args=[approved.pk]),
        {"effective_from": this_period(world.hoshi).isoformat(), "terms": json.dumps(DESIGN_TERMS)},
    )
    assert response.status_code == 403
    assert "Only Hoshi Mart's account manager can draft contract terms." in text(response)
    assert db_state() == before


# --- reasons ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "action", "message"),
    [
        ("requested", "decline", "A reason is required to decline a hire."),
        ("active", "pause", "A reason is required to pause a placement."),
        ("active", "end", "A reason is required to end a placement."),
        ("paused", "end", "A reason is required to end a placement."),
    ],
)
def test_console_actions_that_need_a_reason_refuse_without_one(world, until, action, message):
    # given a placement in the state the action starts from
    placement = hire(world, until=until)
    before = db_state()
    # when the manager posts the action with a blank reason
    response = browser(world.hoshi_manager).post(
        reverse("console-placement-action", args=[placement.pk, action]), {"reason": "   "}
    )
    # then the page says a reason is required, under that action's form, and nothing changed
    assert response.status_code == 400
    assert response.context["failed_action"] == action
    assert response.context["error_fields"] == {"reason": ["is required."]}
    assert message in text(response)
    assert db_state() == before


def test_portal_end_and_reject_need_a_reason(world):
    # given an active placement and a proposed amendment
    placement = hire(world)
    amendment = services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=placement,
        terms=design_terms(),
        effective_from=next_period_start_for(world.hoshi),
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=amendment)
    owner = browser(world.hoshi_owner)
    before = db_state()
    # when the owner ends the placement, then rejects the terms, with no reason
    end = owner.post(reverse("portal-placement-action", args=[placement.pk, "end"]), {"reason": ""})
    reject = owner.post(reverse("portal-version-action", args=[placement.pk, 2, "reject"]), {"reason": ""})
    # then both are refused with the reason asked for, and nothing changed
    assert end.status_code == 400
    assert "A reason is required to end a placement." in text(end)
    assert reject.status_code == 400
    assert "A reason is required to reject contract terms." in text(reject)
    assert db_state() == before


def test_a_reason_over_2000_characters_is_a_400(world):
    # given a requested placement
    placement = hire(world, until="requested")
    before = db_state()
    # when the manager declines with an essay
    response = browser(world.hoshi_manager).post(
        reverse("console-placement-action", args=[placement.pk, "decline"]), {"reason": "x" * 2001}
    )
    # then the form refuses it, and nothing changed
    assert response.status_code == 400
    assert "Ensure this value has at most 2000 characters (it has 2001)." in text(response)
    assert db_state() == before


# --- refused transitions and roles ------------------------------------------------------------


def test_approving_twice_is_a_409(world):
    # given a placement the manager already approved
    placement = hire(world, until="approved")
    before = db_state()
    # when the approve button is pressed again (a second tab)
    response = browser(world.hoshi_manager).post(
        reverse("console-placement-action", args=[placement.pk, "approve"]), {"reason": ""}
    )
    # then it is refused as a transition the placement cannot make, and nothing changed
    assert response.status_code == 409
    assert "Cannot approve: the placement is approved (allowed from requested)." in text(response)
    assert db_state() == before


def test_a_member_who_is_not_an_owner_sees_terms_but_cannot_accept(world):
    # given proposed terms, and a plain member of the partner
    placement = hire(world, until="proposed")
    member = browser(world.hoshi_member)
    # when the member opens the placement
    response = member.get(reverse("portal-placement", args=[placement.pk]))
    page = text(response)
    # then the terms are there, without accept or reject buttons
    assert response.status_code == 200
    assert "At least JPY 300,000 a month, whatever the sales (minimum wage)." in page
    assert "Accept version 1" not in page
    assert "Only an owner of Hoshi Mart can accept or reject these terms." in page
    # and a forged accept is refused with nothing changed
    before = db_state()
    response = member.post(reverse("portal-version-action", args=[placement.pk, 1, "accept"]))
    assert response.status_code == 403
    assert "Only an owner of Hoshi Mart can accept contract terms." in text(response)
    assert db_state() == before


def test_hiring_an_employee_already_hired_is_a_409_on_the_resume(world):
    # given Rinna already requested by Hoshi Mart
    placement = hire(world, until="requested")
    before = db_state()
    # when another member tries to hire her again (a résumé opened before the request)
    response = browser(world.hoshi_member).post(reverse("portal-hire", args=["rinna"]), {"note": "again"})
    # then the résumé comes back with the conflict and the open placement instead of a second
    # hire form, and no second placement
    assert response.status_code == 409
    page = text(response)
    assert "Hoshi Mart already has Rinna (or a request for them) open." in page
    assert "Hire Rinna</button>" not in page
    assert f'href="{reverse("portal-placement", args=[placement.pk])}"' in page
    assert db_state() == before


def test_staff_cannot_hire_and_see_no_hire_form(world):
    # given an account manager on a résumé
    manager = browser(world.hoshi_manager)
    # then no hire form is offered
    assert "Hire Rinna" not in manager.get(reverse("resume", args=["rinna"])).content.decode()
    # and a forged hire is refused with nothing changed
    before = db_state()
    response = manager.post(reverse("portal-hire", args=["rinna"]), {"note": ""})
    assert response.status_code == 403
    assert "Only a partner member can hire a digital employee." in text(response)
    assert db_state() == before


def test_partners_cannot_open_an_unpublished_resume_or_hire_from_it(world):
    # given a draft employee
    from tests.support.factories import EmployeeFactory

    EmployeeFactory(slug="hana", name="Hana", status="draft", published_at=None)
    owner = browser(world.hoshi_owner)
    before = db_state()
    # when a partner opens or hires her by URL
    # then she does not exist for them
    assert owner.get(reverse("resume", args=["hana"])).status_code == 404
    assert owner.post(reverse("portal-hire", args=["hana"]), {"note": ""}).status_code == 404
    assert db_state() == before
    # and staff see her in the catalog, marked as a draft
    response = browser(world.staff).get(reverse("catalog"))
    assert "hana" in [card.employee.slug for card in response.context["cards"]]


def test_an_unknown_catalog_filter_is_a_400(world):
    # given the catalog
    # when a skill that does not exist is asked for
    response = browser(world.hoshi_owner).get(reverse("catalog"), {"skill": "astrology"})
    # then the filter explains, with a 400
    assert response.status_code == 400
    assert "Select a valid choice. astrology is not one of the available choices." in text(response)
    # and from htmx, the fragment comes with the 422 that htmx is told to swap in
    response = browser(world.hoshi_owner).get(reverse("catalog"), {"skill": "astrology"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "<html" not in text(response)


def test_an_unknown_status_filter_on_the_console_is_a_400(world):
    response = browser(world.hoshi_manager).get(reverse("console"), {"status": "sleeping"})
    assert response.status_code == 400
    assert "Select a valid choice. sleeping is not one of the available choices." in text(response)


# --- API keys -----------------------------------------------------------------------------------


def test_a_new_api_key_is_shown_once_and_never_again(world):
    # given a partner owner on the API keys page
    owner = browser(world.hoshi_owner)
    # when they create a key
    response = owner.post(reverse("portal-api-keys"), {"name": "POS export"})
    # then the full key is in this response, with a warning, and is never cached
    assert response.status_code == 201
    issued = response.context["issued"]
    secret = issued.secret
    assert secret.startswith(f"hk_live_{issued.key.prefix}_")
    page = text(response)
    assert secret in page
    assert "it will not be shown again" in page
    assert "no-store" in response["Cache-Control"]
    # and only its digest is stored
    key = PartnerApiKey.objects.get()
    assert (key.name, key.partner, key.key_digest) == ("POS export", world.hoshi, api_key_digest(secret))
    assert secret not in str(PartnerApiKey.objects.values().get())

    # when they come back to the list
    response = owner.get(reverse("portal-api-keys"))
    # then the key is listed by name and prefix only
    page = text(response)
    assert response.status_code == 200
    assert "POS export" in page
    assert f"hk_live_{key.prefix}_…" in page
    assert secret not in page
    assert secret.split("_", 3)[3] not in page


def test_a_key_needs_a_name(world):
    # given a partner owner
    before = db_state()
    # when they create a key with a blank name
    response = browser(world.hoshi_owner).post(reverse("portal-api-keys"), {"name": "  "})
    # then the form asks for one, and no key exists
    assert response.status_code == 400
    assert "Key name: This field is required." in text(response)
    assert db_state() == before


def test_members_cannot_create_or_revoke_keys(world):
    # given a key, and a member who is not an owner
    key = services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS").key
    member = browser(world.hoshi_member)
    # when the member opens the page
    response = member.get(reverse("portal-api-keys"))
    # then they see the key but no create form or revoke button
    assert "POS" in text(response)
    assert response.context["is_owner"] is False
    assert reverse("portal-api-key-revoke", args=[key.pk]) not in text(response)
    # and forged posts are refused with nothing changed
    before = db_state()
    create = member.post(reverse("portal-api-keys"), {"name": "mine"})
    revoke = member.post(reverse("portal-api-key-revoke", args=[key.pk]))
    assert create.status_code == 403
    assert "Only an owner of Hoshi Mart can create API keys." in text(create)
    assert revoke.status_code == 403
    assert db_state() == before


def test_revoking_a_key_then_revoking_it_again(world):
    # given an active key
    key = services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS").key
    owner = browser(world.hoshi_owner)
    # when the owner revokes it
    response = owner.post(reverse("portal-api-key-revoke", args=[key.pk]))
    # then it is revoked and the list says so
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_by == world.hoshi_owner
    assert "revoked" in owner.get(reverse("portal-api-keys")).content.decode()
    # when a second revoke arrives (another tab)
    before = db_state()
    response = owner.post(reverse("portal-api-key-revoke", args=[key.pk]))
    # then it is a 409 and nothing changed
    assert response.status_code == 409
    assert "was already revoked" in text(response)
    assert db_state() == before
