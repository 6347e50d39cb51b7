"""Who may do what, through the API: each transition refused for the wrong role (403
permission_denied), from the wrong state (409 invalid_transition), as a duplicate (409
conflict) or without a required reason (400 invalid, field "reason"), changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import services
from contracts.models import Placement
from tests.support.api import assert_error, db_state
from tests.support.factories import EmployeeFactory
from tests.support.world import DESIGN_TERMS, api_as, hire, this_period

HOSHI_AM = "Only Hoshi Mart's account manager can {}."
HOSHI_OWNER = "Only an owner of Hoshi Mart can {}."
REASON = {"reason": "Because"}


def build(world, state: str) -> Placement:
    """Rinna at Hoshi Mart in `state`; "draft" is approved with a v1 draft, "proposed" has
    v1 proposed, "active"/"paused" have v1 accepted."""
    if state == "draft":
        placement = hire(world, until="approved")
        services.contract_version_draft(
            actor=world.hoshi_manager, placement=placement, terms=DESIGN_TERMS, effective_from=this_period(world.hoshi)
        )
        return placement
    if state == "ended":
        placement = hire(world)
        services.placement_end(actor=world.hoshi_manager, placement=placement, reason="Done")
        return placement
    return hire(world, until=state)


def send(world, actor: str, placement: Placement, method: str, path: str, body: dict[str, Any] | None):
    contract = getattr(placement, "contract", None)
    path = path.format(p=placement.pk, c=contract.pk if contract else None)
    client = api_as(getattr(world, actor))
    return getattr(client, method)(path, body, format="json")


def version_body(world) -> dict[str, Any]:
    return {"terms": DESIGN_TERMS, "effective_from": this_period(world.hoshi).isoformat()}


VERSIONS = "/api/v1/contracts/{c}/versions"
V1 = "/api/v1/contracts/{c}/versions/1"
ACT = "/api/v1/placements/{p}/"

# (state, method, path, body or "version" for a valid version body, what the message says)
MANAGER_ONLY = [
    ("requested", "post", ACT + "approve", {}, "approve a hire"),
    ("requested", "post", ACT + "decline", REASON, "decline a hire"),
    ("active", "post", ACT + "pause", REASON, "pause a placement"),
    ("paused", "post", ACT + "resume", {}, "resume a placement"),
    ("approved", "post", VERSIONS, "version", "draft contract terms"),
    ("draft", "put", V1, "version", "edit contract terms"),
    ("draft", "post", V1 + "/propose", {}, "send contract terms"),
    ("draft", "post", V1 + "/withdraw", REASON, "withdraw contract terms"),
    ("proposed", "post", V1 + "/withdraw", REASON, "withdraw contract terms"),
]


def manager_only_cases(actors: list[str], *, drafts: bool) -> list:
    return [
        pytest.param(actor, *case, id=f"{case[4]}@{case[0]}-{actor}")
        for case in MANAGER_ONLY
        for actor in actors
        if (case[0] == "draft") == drafts
    ]


@pytest.mark.parametrize(
    ("actor", "state", "method", "path", "body", "doing"),
    manager_only_cases(["hoshi_owner", "hoshi_member", "finance"], drafts=False)
    + manager_only_cases(["finance"], drafts=True),
)
def test_manager_actions_refused_to_others(world, actor, state, method, path, body, doing):
    # given Rinna's placement at Hoshi Mart in a state where the action is allowed
    placement = build(world, state)
    before = db_state()
    # when someone other than the account manager (or staff) tries it
    response = send(world, actor, placement, method, path, version_body(world) if body == "version" else body)
    # then 403 permission_denied, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == HOSHI_AM.format(doing)
    assert db_state() == before


DRAFT_REQUESTS = [
    ("get", V1, None),
    ("put", V1, "version"),
    *[("post", f"{V1}/{action}", REASON) for action in ("propose", "withdraw", "accept", "reject")],
]


@pytest.mark.parametrize("actor", ["hoshi_owner", "hoshi_member"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    DRAFT_REQUESTS,
    ids=[case[1].rsplit("/", 1)[-1] + f"-{case[0]}" for case in DRAFT_REQUESTS],
)
def test_partners_cannot_see_or_touch_a_draft(world, actor, method, path, body):
    # given a draft v1 that was never sent to the partner
    placement = build(world, "draft")
    before = db_state()
    # when a Hoshi Mart person reads it or acts on it (accepting a draft included)
    response = send(world, actor, placement, method, path, version_body(world) if body == "version" else body)
    # then it does not exist for them (404, not 403 or 409), and nothing changed
    error = assert_error(response, 404, "not_found")
    assert error["message"] == f"Contract {placement.contract.pk} has no version 1."
    assert db_state() == before
    # and the contract they can read lists no version at all
    response = api_as(getattr(world, actor)).get(f"/api/v1/contracts/{placement.contract.pk}")
    assert (response.status_code, response.json()["versions"]) == (200, [])


@pytest.mark.parametrize("actor", ["hoshi_manager", "finance", "staff", "hoshi_member"])
@pytest.mark.parametrize(("action", "body"), [("accept", {}), ("reject", REASON)])
def test_only_a_partner_owner_decides_on_terms(world, actor, action, body):
    # given proposed terms
    placement = build(world, "proposed")
    before = db_state()
    # when anyone but a Hoshi Mart owner accepts or rejects them
    response = send(world, actor, placement, "post", V1 + f"/{action}", body)
    # then 403, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == HOSHI_OWNER.format(f"{action} contract terms")
    assert db_state() == before


@pytest.mark.parametrize("actor", ["hoshi_member", "finance"])
def test_only_the_manager_or_an_owner_ends_a_placement(world, actor):
    # given an active placement
    placement = build(world, "active")
    before = db_state()
    # when a non-owner member or finance ends it
    response = send(world, actor, placement, "post", ACT + "end", REASON)
    # then 403, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == HOSHI_OWNER.format("end a placement")
    assert db_state() == before


@pytest.mark.parametrize("actor", ["hoshi_manager", "finance", "staff"])
def test_only_partner_members_withdraw_a_request(world, actor):
    # given a requested placement
    placement = build(world, "requested")
    before = db_state()
    # when platform people withdraw it for the partner
    response = send(world, actor, placement, "post", ACT + "withdraw", {})
    # then 403, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only a member of Hoshi Mart can withdraw a hire request."
    assert db_state() == before


@pytest.mark.parametrize("actor", ["hoshi_manager", "finance", "staff"])
def test_only_partner_members_hire(world, actor):
    # given platform people
    before = db_state()
    # when they try to hire Rinna
    response = api_as(getattr(world, actor)).post("/api/v1/placements", {"employee": "rinna"}, format="json")
    # then 403, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only a partner member can hire a digital employee."
    assert db_state() == before


def test_staff_may_act_as_any_account_manager(world):
    # given a requested placement
    placement = build(world, "requested")
    # when staff approves it
    response = send(world, "staff", placement, "post", ACT + "approve", {})
    # then it is approved
    assert (response.status_code, response.json()["status"]) == (200, "approved")


# (state, actor, method, path, body, message)
INVALID_TRANSITIONS = [
    (
        "active",
        "hoshi_manager",
        "post",
        ACT + "approve",
        {},
        "Cannot approve: the placement is active (allowed from requested).",
    ),
    (
        "approved",
        "hoshi_manager",
        "post",
        ACT + "approve",
        {},
        "Cannot approve: the placement is approved (allowed from requested).",
    ),
    (
        "ended",
        "hoshi_manager",
        "post",
        ACT + "approve",
        {},
        "Cannot approve: the placement is ended (allowed from requested).",
    ),
    (
        "active",
        "hoshi_manager",
        "post",
        ACT + "decline",
        REASON,
        "Cannot decline: the placement is active (allowed from requested).",
    ),
    (
        "active",
        "hoshi_manager",
        "post",
        ACT + "resume",
        {},
        "Cannot resume: the placement is active (allowed from paused).",
    ),
    (
        "paused",
        "hoshi_manager",
        "post",
        ACT + "pause",
        REASON,
        "Cannot pause: the placement is paused (allowed from active).",
    ),
    (
        "requested",
        "hoshi_manager",
        "post",
        ACT + "pause",
        REASON,
        "Cannot pause: the placement is requested (allowed from active).",
    ),
    (
        "requested",
        "hoshi_manager",
        "post",
        ACT + "end",
        REASON,
        "Cannot end: the placement is requested (allowed from approved, active, paused).",
    ),
    (
        "ended",
        "hoshi_owner",
        "post",
        ACT + "end",
        REASON,
        "Cannot end: the placement is ended (allowed from approved, active, paused).",
    ),
    (
        "approved",
        "hoshi_owner",
        "post",
        ACT + "withdraw",
        {},
        "Cannot withdraw: the placement is approved (allowed from requested).",
    ),
    (
        "ended",
        "hoshi_manager",
        "post",
        VERSIONS,
        "version",
        "Cannot draft terms: the placement is ended (allowed from approved, active, paused).",
    ),
    ("proposed", "hoshi_manager", "post", V1 + "/propose", {}, "Version 1 is proposed; only a draft can be sent."),
    (
        "active",
        "hoshi_owner",
        "post",
        V1 + "/reject",
        REASON,
        "Version 1 is accepted; only proposed terms can be rejected.",
    ),
    (
        "active",
        "hoshi_owner",
        "post",
        V1 + "/accept",
        {},
        "Version 1 is accepted; only proposed terms can be accepted.",
    ),
    ("proposed", "hoshi_manager", "put", V1, "version", "Version 1 is proposed; only a draft can change."),
    ("active", "hoshi_manager", "put", V1, "version", "Version 1 is accepted; only a draft can change."),
    ("active", "hoshi_manager", "post", V1 + "/withdraw", REASON, "Version 1 is accepted; it cannot be withdrawn."),
]


@pytest.mark.parametrize(
    ("state", "actor", "method", "path", "body", "message"),
    INVALID_TRANSITIONS,
    ids=[f"{case[3].rsplit('/', 1)[-1]}@{case[0]}-{case[2]}" for case in INVALID_TRANSITIONS],
)
def test_invalid_transitions_conflict(world, state, actor, method, path, body, message):
    # given Rinna's placement in a state that does not allow the action
    placement = build(world, state)
    before = db_state()
    # when the right person attempts it
    response = send(world, actor, placement, method, path, version_body(world) if body == "version" else body)
    # then 409 invalid_transition says why, and nothing changed
    error = assert_error(response, 409, "invalid_transition")
    assert error["message"] == message
    assert db_state() == before


@pytest.mark.parametrize("state", ["requested", "approved", "active", "paused"])
@pytest.mark.parametrize("actor", ["hoshi_owner", "hoshi_member"])
def test_a_second_hire_of_the_same_employee_conflicts(world, state, actor):
    # given Rinna's placement at Hoshi Mart still open
    build(world, state)
    before = db_state()
    # when a Hoshi Mart person hires Rinna again
    response = api_as(getattr(world, actor)).post("/api/v1/placements", {"employee": "rinna"}, format="json")
    # then 409 conflict, and nothing changed
    error = assert_error(response, 409, "conflict")
    assert error["message"] == "Hoshi Mart already has Rinna (or a request for them) open."
    assert db_state() == before


def test_a_second_open_version_conflicts(world):
    # given a draft v1
    placement = build(world, "draft")
    before = db_state()
    # when the manager drafts another version
    response = send(world, "hoshi_manager", placement, "post", VERSIONS, version_body(world))
    # then 409 conflict, and nothing changed
    error = assert_error(response, 409, "conflict")
    assert error["message"] == "Version 1 is still draft; edit or withdraw it first."
    assert db_state() == before


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "  \n "}], ids=["absent", "empty", "blank"])
@pytest.mark.parametrize(
    ("state", "actor", "path", "doing"),
    [
        ("requested", "hoshi_manager", ACT + "decline", "decline a hire"),
        ("active", "hoshi_manager", ACT + "pause", "pause a placement"),
        ("active", "hoshi_manager", ACT + "end", "end a placement"),
        ("active", "hoshi_owner", ACT + "end", "end a placement"),
        ("proposed", "hoshi_owner", V1 + "/reject", "reject contract terms"),
    ],
    ids=["decline", "pause", "end-by-manager", "end-by-owner", "reject"],
)
def test_a_reason_is_required(world, body, state, actor, path, doing):
    # given a placement where the action is allowed
    placement = build(world, state)
    before = db_state()
    # when the right person does it without a reason
    response = send(world, actor, placement, "post", path, body)
    # then 400 names the reason field, and nothing changed
    error = assert_error(response, 400, "invalid", {"reason": ["is required."]})
    assert error["message"] == f"A reason is required to {doing}."
    assert db_state() == before


@pytest.mark.parametrize(("slug", "status"), [("nobody", None), ("mei", "draft"), ("sora", "retired")])
def test_only_published_employees_can_be_hired(world, slug, status):
    # given an employee slug that is unknown, or an employee partners cannot see
    if status is not None:
        EmployeeFactory(slug=slug, name=slug.title(), status=status, published_at=None)
    before = db_state()
    # when a partner owner hires it
    response = api_as(world.hoshi_owner).post("/api/v1/placements", {"employee": slug}, format="json")
    # then it is not found (partners cannot even learn an unpublished employee exists)
    error = assert_error(response, 404, "not_found")
    assert error["message"] == f"No digital employee {slug!r}."
    assert db_state() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"employee": ["This field is required."]}),
        ({"employee": ""}, {"employee": ["This field may not be blank."]}),
        (
            {"employee": "not a slug!"},
            {"employee": ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.']},
        ),
        ({"employee": "rinna", "note": "x" * 2001}, {"note": ["Ensure this field has no more than 2000 characters."]}),
    ],
    ids=["missing", "blank", "not-slug", "note-too-long"],
)
def test_hire_input_is_validated(world, body, fields):
    # given a bad hire request
    before = db_state()
    # when a partner owner sends it
    response = api_as(world.hoshi_owner).post("/api/v1/placements", body, format="json")
    # then 400 names the field, and nothing changed
    assert_error(response, 400, "invalid", fields)
    assert db_state() == before
