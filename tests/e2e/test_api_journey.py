"""The whole hire → contract → amendment journey, through the HTTP API only, with
session-authenticated clients (a person signed in to the web UI calling /api/v1/)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from contracts.models import Contract, ContractVersion, Placement, PlacementTransition
from contracts.selectors import next_period_start
from core.models import AuditLog
from tests.support.api import assert_error, db_state
from tests.support.world import DESIGN_TERMS, api_as, design_terms, hire, this_period

_DT = serializers.DateTimeField()


def drf_datetime(value: Any) -> str | None:
    """How the API renders a datetime (ISO 8601, UTC as Z)."""
    return None if value is None else _DT.to_representation(value)


def version_json(version: ContractVersion) -> dict[str, Any]:
    version.refresh_from_db()
    return {
        "number": version.number,
        "status": version.status,
        "effective_from": version.effective_from.isoformat(),
        "terms": version.terms,
        "created_by": version.created_by.username,
        "created_at": drf_datetime(version.created_at),
        "proposed_at": drf_datetime(version.proposed_at),
        "decided_by": version.decided_by.username if version.decided_by else None,
        "decided_at": drf_datetime(version.decided_at),
        "decision_note": version.decision_note,
    }


def placement_json(placement: Placement) -> dict[str, Any]:
    placement.refresh_from_db()
    return {
        "id": placement.pk,
        "partner": placement.partner.slug,
        "employee": placement.employee.slug,
        "employee_name": placement.employee.name,
        "status": placement.status,
        "requested_by": placement.requested_by.username,
        "request_note": placement.request_note,
        "created_at": drf_datetime(placement.created_at),
        "updated_at": drf_datetime(placement.updated_at),
        "contract": placement.contract.pk if hasattr(placement, "contract") else None,
    }


def test_hire_contract_and_amend_through_the_api(world):
    owner, manager = api_as(world.hoshi_owner), api_as(world.hoshi_manager)
    start = this_period(world.hoshi)

    # given a partner owner browsing the catalog for a coupon promoter
    # when they filter by the skill
    response = owner.get("/api/v1/employees", {"skill": "coupon_promoter"})
    # then only Rinna (Kai is a customer-service rep) is offered
    assert response.status_code == 200
    assert [row["slug"] for row in response.json()["results"]] == ["rinna"]
    assert response.json()["results"][0]["skills"] == ["coupon_promoter"]

    # when the owner hires Rinna
    response = owner.post("/api/v1/placements", {"employee": "rinna", "note": "Autumn coupon push"}, format="json")
    # then a requested placement exists, with no contract yet
    assert response.status_code == 201
    placement = Placement.objects.get()
    assert response.json() == placement_json(placement)
    assert response.json()["status"] == "requested"
    assert response.json()["request_note"] == "Autumn coupon push"
    assert response.json()["requested_by"] == "hoshi-owner"
    assert response.json()["contract"] is None
    assert Contract.objects.count() == 0

    # when the account manager approves the hire
    response = manager.post(f"/api/v1/placements/{placement.pk}/approve", {}, format="json")
    # then the placement is approved and has an (empty) contract in the partner's currency
    assert response.status_code == 200
    contract = Contract.objects.get()
    assert response.json() == placement_json(placement)
    assert (response.json()["status"], response.json()["contract"]) == ("approved", contract.pk)
    assert (contract.placement_id, contract.currency, contract.versions.count()) == (placement.pk, "JPY", 0)

    # when the manager drafts DESIGN.md's terms from the start of this period
    response = manager.post(
        f"/api/v1/contracts/{contract.pk}/versions",
        {"terms": DESIGN_TERMS, "effective_from": start.isoformat()},
        format="json",
    )
    # then version 1 is a draft with exactly those terms
    assert response.status_code == 201
    v1 = ContractVersion.objects.get(contract=contract, number=1)
    assert response.json() == version_json(v1)
    assert (response.json()["status"], response.json()["effective_from"]) == ("draft", start.isoformat())
    assert response.json()["terms"] == DESIGN_TERMS
    assert (response.json()["created_by"], response.json()["proposed_at"]) == ("am-hoshi", None)

    # when the manager edits the draft (a lower minimum, a different split)
    edited = design_terms(
        minimum_per_period=250000,
        splits=[{"payee": "platform", "share": "0.75"}, {"payee": "studio-aoi", "share": "0.25"}],
    )
    response = manager.put(
        f"/api/v1/contracts/{contract.pk}/versions/1",
        {"terms": edited, "effective_from": start.isoformat()},
        format="json",
    )
    # then the draft holds the edited terms and the audit trail records the diff
    assert response.status_code == 200
    assert response.json() == version_json(v1)
    assert response.json()["terms"] == edited
    assert response.json()["status"] == "draft"
    edit_entry = AuditLog.objects.get(action="contract.draft_edited")
    assert edit_entry.changes == {
        "placement": placement.pk,
        "version": 1,
        "diff": {"minimum_per_period": [300000, 250000], "splits": [DESIGN_TERMS["splits"], edited["splits"]]},
    }

    # when the manager proposes it
    response = manager.post(f"/api/v1/contracts/{contract.pk}/versions/1/propose", {}, format="json")
    # then it is proposed (and frozen)
    assert response.status_code == 200
    assert response.json() == version_json(v1)
    assert response.json()["status"] == "proposed"
    assert response.json()["proposed_at"] is not None

    # when the partner owner accepts it
    response = owner.post(f"/api/v1/contracts/{contract.pk}/versions/1/accept", {}, format="json")
    # then v1 is accepted by the owner and, since it has started, the placement is active
    assert response.status_code == 200
    assert response.json() == version_json(v1)
    assert (response.json()["status"], response.json()["decided_by"]) == ("accepted", "hoshi-owner")
    response = owner.get(f"/api/v1/placements/{placement.pk}")
    assert response.status_code == 200
    assert response.json() == placement_json(placement)
    assert response.json()["status"] == "active"

    # when the manager drafts an amendment from next period, proposes it, the owner accepts
    amended = design_terms(share={"model": "flat", "rate": "0.06"}, minimum_per_period=None)
    next_start = next_period_start(start)
    response = manager.post(
        f"/api/v1/contracts/{contract.pk}/versions",
        {"terms": amended, "effective_from": next_start.isoformat()},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["status"]) == (2, "draft")
    response = manager.post(f"/api/v1/contracts/{contract.pk}/versions/2/propose", {}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "proposed")
    response = owner.post(f"/api/v1/contracts/{contract.pk}/versions/2/accept", {}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "accepted")

    # then the contract shows both versions, in order, with exact fields
    v2 = ContractVersion.objects.get(contract=contract, number=2)
    response = owner.get(f"/api/v1/contracts/{contract.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": contract.pk,
        "placement": placement.pk,
        "partner": "hoshi-mart",
        "employee": "rinna",
        "currency": "JPY",
        "versions": [version_json(v1), version_json(v2)],
    }
    body = response.json()["versions"]
    assert [(v["number"], v["status"], v["effective_from"]) for v in body] == [
        (1, "accepted", start.isoformat()),
        (2, "accepted", next_start.isoformat()),
    ]
    assert body[0]["terms"] == edited
    assert body[1]["terms"] == {**DESIGN_TERMS, "share": {"model": "flat", "rate": "0.06"}, "minimum_per_period": None}
    assert [v["decided_by"] for v in body] == ["hoshi-owner", "hoshi-owner"]
    # and the placement is still active (the amendment does not re-activate it)
    placement.refresh_from_db()
    assert placement.status == Placement.Status.ACTIVE
    assert list(
        PlacementTransition.objects.filter(placement=placement).values_list(
            "from_status", "to_status", "actor__username"
        )
    ) == [
        ("", "requested", "hoshi-owner"),
        ("requested", "approved", "am-hoshi"),
        ("approved", "active", "hoshi-owner"),
    ]
    assert list(AuditLog.objects.order_by("id").values_list("action", "actor__username")) == [
        ("placement.requested", "hoshi-owner"),
        ("placement.approved", "am-hoshi"),
        ("contract.drafted", "am-hoshi"),
        ("contract.draft_edited", "am-hoshi"),
        ("contract.proposed", "am-hoshi"),
        ("contract.accepted", "hoshi-owner"),
        ("placement.activated", "hoshi-owner"),
        ("contract.drafted", "am-hoshi"),
        ("contract.proposed", "am-hoshi"),
        ("contract.accepted", "hoshi-owner"),
    ]
    assert set(AuditLog.objects.values_list("partner_id", flat=True)) == {world.hoshi.pk}


def test_contract_list_shows_the_contract_with_its_versions(world):
    # given an active placement under v1
    placement = hire(world)
    contract = placement.contract
    # when the owner lists contracts
    response = api_as(world.hoshi_owner).get("/api/v1/contracts")
    # then exactly that contract is listed, with its one accepted version
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "id": contract.pk,
                "placement": placement.pk,
                "partner": "hoshi-mart",
                "employee": "rinna",
                "currency": "JPY",
                "versions": [version_json(contract.versions.get())],
            }
        ]
    }


def test_reject_needs_a_reason_then_a_new_draft_follows(world):
    # given a proposed v1
    placement = hire(world, until="proposed")
    contract = placement.contract
    owner, manager = api_as(world.hoshi_owner), api_as(world.hoshi_manager)
    url = f"/api/v1/contracts/{contract.pk}/versions/1"

    # when the owner rejects without a reason (blank or only spaces)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        before = db_state()
        response = owner.post(f"{url}/reject", body, format="json")
        # then it is refused, naming the reason field, and nothing changed
        assert_error(response, 400, "invalid", {"reason": ["is required."]})
        assert db_state() == before

    # when the owner rejects with a reason
    response = owner.post(f"{url}/reject", {"reason": "Minimum wage too high for us"}, format="json")
    # then v1 is rejected with the reason on record, and the placement stays approved
    assert response.status_code == 200
    v1 = contract.versions.get(number=1)
    assert response.json() == version_json(v1)
    assert (response.json()["status"], response.json()["decided_by"], response.json()["decision_note"]) == (
        "rejected",
        "hoshi-owner",
        "Minimum wage too high for us",
    )
    assert AuditLog.objects.filter(action="contract.rejected").get().changes == {
        "placement": placement.pk,
        "version": 1,
        "status": ["proposed", "rejected"],
        "reason": "Minimum wage too high for us",
    }
    placement.refresh_from_db()
    assert placement.status == Placement.Status.APPROVED

    # when the manager drafts v2 (again from this period: nothing was ever accepted)
    start = this_period(world.hoshi)
    terms = design_terms(minimum_per_period=200000)
    response = manager.post(
        f"/api/v1/contracts/{contract.pk}/versions",
        {"terms": terms, "effective_from": start.isoformat()},
        format="json",
    )
    # then v2 is a new draft; v1 stays rejected and unchanged
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["status"], response.json()["terms"]) == (2, "draft", terms)
    assert list(contract.versions.order_by("number").values_list("number", "status")) == [(1, "rejected"), (2, "draft")]

    # when it is proposed and accepted
    assert manager.post(f"/api/v1/contracts/{contract.pk}/versions/2/propose").status_code == 200
    response = owner.post(f"/api/v1/contracts/{contract.pk}/versions/2/accept")
    # then the placement is active under v2
    assert (response.status_code, response.json()["status"]) == (200, "accepted")
    placement.refresh_from_db()
    assert placement.status == Placement.Status.ACTIVE
    response = owner.get(f"/api/v1/contracts/{contract.pk}")
    assert [(v["number"], v["status"]) for v in response.json()["versions"]] == [(1, "rejected"), (2, "accepted")]


def test_withdrawn_proposal_makes_room_for_a_new_draft(world):
    # given a proposed v1
    placement = hire(world, until="proposed")
    contract = placement.contract
    manager = api_as(world.hoshi_manager)
    # when the manager tries to draft a second version while v1 is open
    before = db_state()
    response = manager.post(
        f"/api/v1/contracts/{contract.pk}/versions",
        {"terms": DESIGN_TERMS, "effective_from": this_period(world.hoshi).isoformat()},
        format="json",
    )
    # then it is a conflict and nothing changed
    assert_error(response, 409, "conflict")
    assert db_state() == before
    # when the manager withdraws v1 with a note
    response = manager.post(
        f"/api/v1/contracts/{contract.pk}/versions/1/withdraw", {"reason": "Wrong minimum"}, format="json"
    )
    # then it is withdrawn and a new draft can follow
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["decision_note"], response.json()["decided_by"]) == (
        "withdrawn",
        "Wrong minimum",
        "am-hoshi",
    )
    response = manager.post(
        f"/api/v1/contracts/{contract.pk}/versions",
        {"terms": DESIGN_TERMS, "effective_from": this_period(world.hoshi).isoformat()},
        format="json",
    )
    assert (response.status_code, response.json()["number"], response.json()["status"]) == (201, 2, "draft")


def test_placement_lifecycle_pause_resume_end(world):
    # given an active placement with an open amendment draft
    placement = hire(world)
    contract = placement.contract
    manager, owner = api_as(world.hoshi_manager), api_as(world.hoshi_owner)
    next_start = next_period_start(this_period(world.hoshi))
    assert (
        manager.post(
            f"/api/v1/contracts/{contract.pk}/versions",
            {"terms": DESIGN_TERMS, "effective_from": next_start.isoformat()},
            format="json",
        ).status_code
        == 201
    )
    # when the manager pauses, then resumes it
    response = manager.post(f"/api/v1/placements/{placement.pk}/pause", {"reason": "Store refit"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "paused")
    response = manager.post(f"/api/v1/placements/{placement.pk}/resume", {}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "active")
    # when the partner owner ends it
    response = owner.post(f"/api/v1/placements/{placement.pk}/end", {"reason": "Campaign over"}, format="json")
    # then it is ended, the open draft is withdrawn, and every step is on record
    assert response.status_code == 200
    assert response.json() == placement_json(placement)
    assert response.json()["status"] == "ended"
    assert list(contract.versions.order_by("number").values_list("number", "status")) == [
        (1, "accepted"),
        (2, "withdrawn"),
    ]
    assert list(
        PlacementTransition.objects.filter(placement=placement).values_list("from_status", "to_status", "reason")
    ) == [
        ("", "requested", ""),
        ("requested", "approved", ""),
        ("approved", "active", "Accepted contract v1"),
        ("active", "paused", "Store refit"),
        ("paused", "active", ""),
        ("active", "ended", "Campaign over"),
    ]
    # and the partner may hire Rinna again
    response = owner.post("/api/v1/placements", {"employee": "rinna"}, format="json")
    assert (response.status_code, response.json()["status"]) == (201, "requested")
    assert Placement.objects.filter(partner=world.hoshi, employee=world.rinna).count() == 2


def test_withdraw_and_decline_a_request(world):
    # given two requests by Hoshi Mart
    rinna = hire(world, until="requested")
    kai = hire(world, employee="kai", until="requested")
    # when a member withdraws one and the manager declines the other with a reason
    response = api_as(world.hoshi_member).post(f"/api/v1/placements/{rinna.pk}/withdraw")
    assert (response.status_code, response.json()["status"]) == (200, "ended")
    response = api_as(world.hoshi_manager).post(
        f"/api/v1/placements/{kai.pk}/decline", {"reason": "Not in this region yet"}, format="json"
    )
    # then both are ended, with the reasons on record, and no contract was made
    assert (response.status_code, response.json()["status"]) == (200, "ended")
    assert list(
        PlacementTransition.objects.filter(to_status="ended")
        .order_by("id")
        .values_list("placement_id", "reason", "actor__username")
    ) == [(rinna.pk, "Withdrawn by the partner", "hoshi-member"), (kai.pk, "Not in this region yet", "am-hoshi")]
    assert Contract.objects.count() == 0
