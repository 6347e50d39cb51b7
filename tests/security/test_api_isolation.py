"""Partners never see each other's data: every placement, contract, version and API-key
endpoint answers 404 not_found for another partner's objects (exactly as for an id that
does not exist), changes nothing, and every list holds only the caller's own rows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from contracts import services
from contracts.models import Placement
from contracts.selectors import next_period_start
from tests.support.api import assert_error, db_state
from tests.support.factories import UserFactory
from tests.support.world import DESIGN_TERMS, api_as, design_terms, hire, this_period


@dataclass
class Scene:
    hoshi_active: Placement  # Rinna at Hoshi Mart, v1 accepted, v2 draft open
    hoshi_requested: Placement  # Kai at Hoshi Mart, requested
    wayfarer_active: Placement  # Kai at Wayfarer, v1 accepted
    hoshi_key: int
    wayfarer_key: int
    wayfarer_secret: str


@pytest.fixture
def scene(world) -> Scene:
    hoshi_active = hire(world)
    next_start = next_period_start(this_period(world.hoshi))
    services.contract_version_draft(
        actor=world.hoshi_manager, placement=hoshi_active, terms=DESIGN_TERMS, effective_from=next_start
    )
    hoshi_requested = hire(world, employee="kai", until="requested")
    wayfarer_active = hire(world, partner="wayfarer", employee="kai")
    hoshi_key = services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS")
    wayfarer_key = services.api_key_create(actor=world.wayfarer_owner, partner=world.wayfarer, name="Booking engine")
    return Scene(
        hoshi_active=hoshi_active,
        hoshi_requested=hoshi_requested,
        wayfarer_active=wayfarer_active,
        hoshi_key=hoshi_key.key.pk,
        wayfarer_key=wayfarer_key.key.pk,
        wayfarer_secret=wayfarer_key.secret,
    )


def hoshi_requests(scene: Scene) -> list[tuple[str, str, dict | None]]:
    """Every placement/contract/version/API-key request about Hoshi Mart's objects."""
    active, requested = scene.hoshi_active.pk, scene.hoshi_requested.pk
    contract = scene.hoshi_active.contract.pk
    next_start = next_period_start(this_period(scene.hoshi_active.partner)).isoformat()
    version_body = {"terms": design_terms(hold_days=7), "effective_from": next_start}
    reason = {"reason": "Because"}
    return [
        ("get", f"/api/v1/placements/{active}", None),
        ("get", f"/api/v1/placements/{requested}", None),
        *[
            ("post", f"/api/v1/placements/{requested}/{action}", reason)
            for action in ("approve", "decline", "withdraw")
        ],
        *[
            ("post", f"/api/v1/placements/{active}/{action}", reason)
            for action in ("pause", "resume", "end", "withdraw")
        ],
        ("get", f"/api/v1/contracts/{contract}", None),
        ("post", f"/api/v1/contracts/{contract}/versions", version_body),
        ("get", f"/api/v1/contracts/{contract}/versions/1", None),
        ("get", f"/api/v1/contracts/{contract}/versions/2", None),
        ("put", f"/api/v1/contracts/{contract}/versions/2", version_body),
        *[
            ("post", f"/api/v1/contracts/{contract}/versions/{number}/{action}", reason)
            for number in (1, 2)
            for action in ("propose", "withdraw", "accept", "reject")
        ],
        ("post", f"/api/v1/api-keys/{scene.hoshi_key}/revoke", None),
    ]


def not_found_message(path: str) -> str:
    """What a request about a missing object says: the same words as for any unknown id."""
    parts = path.removeprefix("/api/v1/").split("/")
    if parts[0] == "placements":
        return f"No placement {parts[1]}."
    if parts[0] == "api-keys":
        return f"No API key {parts[1]}."
    return f"No contract {parts[1]}."


def call(client: APIClient, method: str, path: str, body: dict | None):
    send = getattr(client, method)
    return send(path) if body is None else send(path, body, format="json")


@pytest.mark.parametrize("intruder", ["wayfarer_owner", "wayfarer_manager"])
def test_another_partners_objects_are_not_found(world, scene, intruder):
    # given Wayfarer's owner or Wayfarer's account manager, signed in
    client = api_as(getattr(world, intruder))
    for method, path, body in hoshi_requests(scene):
        before = db_state()
        # when they read or act on any of Hoshi Mart's placements, contract, versions, keys
        response = call(client, method, path, body)
        # then it is 404 not_found, worded as for an id that does not exist, and nothing changed
        error = assert_error(response, 404, "not_found")
        assert error["message"] == not_found_message(path), (method, path)
        assert db_state() == before, (method, path)


def test_an_unknown_id_answers_exactly_like_another_partners_id(world, scene):
    # given Wayfarer's owner
    client = api_as(world.wayfarer_owner)
    hoshi_id = scene.hoshi_active.pk
    missing_id = Placement.objects.order_by("-pk").first().pk + 1000
    # when they ask for Hoshi's placement and for a placement that does not exist
    seen = client.get(f"/api/v1/placements/{hoshi_id}").json()
    missing = client.get(f"/api/v1/placements/{missing_id}").json()
    # then the two answers differ only in the id echoed back
    assert seen == {"error": {"code": "not_found", "message": f"No placement {hoshi_id}.", "fields": {}}}
    assert missing == {"error": {"code": "not_found", "message": f"No placement {missing_id}.", "fields": {}}}


def test_hoshi_people_cannot_reach_wayfarer(world, scene):
    # given Hoshi Mart's member and account manager
    wayfarer = scene.wayfarer_active
    for user in (world.hoshi_member, world.hoshi_owner, world.hoshi_manager):
        client = api_as(user)
        for method, path, body in [
            ("get", f"/api/v1/placements/{wayfarer.pk}", None),
            ("post", f"/api/v1/placements/{wayfarer.pk}/pause", {"reason": "x"}),
            ("get", f"/api/v1/contracts/{wayfarer.contract.pk}", None),
            ("post", f"/api/v1/contracts/{wayfarer.contract.pk}/versions/1/accept", None),
            ("post", f"/api/v1/api-keys/{scene.wayfarer_key}/revoke", None),
        ]:
            before = db_state()
            # when they read or act on Wayfarer's objects
            response = call(client, method, path, body)
            # then 404, nothing changed
            assert_error(response, 404, "not_found")
            assert db_state() == before, (user.username, method, path)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("viewer", "partners"),
    [
        ("hoshi_owner", ["hoshi"]),
        ("hoshi_member", ["hoshi"]),
        ("hoshi_manager", ["hoshi"]),
        ("wayfarer_owner", ["wayfarer"]),
        ("wayfarer_manager", ["wayfarer"]),
        ("finance", ["hoshi", "wayfarer"]),
        ("staff", ["hoshi", "wayfarer"]),
    ],
)
def test_lists_hold_exactly_the_viewers_rows(world, scene, viewer, partners):
    # given placements, contracts and keys at both partners
    # (newest first: Wayfarer's placement, Hoshi's Kai request, Hoshi's Rinna)
    placements = {"hoshi": [scene.hoshi_requested.pk, scene.hoshi_active.pk], "wayfarer": [scene.wayfarer_active.pk]}
    contracts = {"hoshi": [scene.hoshi_active.contract.pk], "wayfarer": [scene.wayfarer_active.contract.pk]}
    keys = {"hoshi": [scene.hoshi_key], "wayfarer": [scene.wayfarer_key]}
    client = api_as(getattr(world, viewer))
    # when the viewer lists placements, contracts and API keys
    # then each list holds exactly the rows of the partners they may see, newest first
    newest_first = [p for partner in reversed(partners) for p in placements[partner]]
    assert ids(client.get("/api/v1/placements")) == newest_first
    assert ids(client.get("/api/v1/contracts")) == [c for p in reversed(partners) for c in contracts[p]]
    assert ids(client.get("/api/v1/api-keys")) == [k for p in reversed(partners) for k in keys[p]]
    # and filtering by status stays inside the same scope
    assert ids(client.get("/api/v1/placements", {"status": "requested"})) == (
        [scene.hoshi_requested.pk] if "hoshi" in partners else []
    )
    assert ids(client.get("/api/v1/placements", {"status": "active"})) == [
        p
        for partner in reversed(partners)
        for p in {"hoshi": [scene.hoshi_active.pk], "wayfarer": [scene.wayfarer_active.pk]}[partner]
    ]


@pytest.mark.parametrize("viewer", ["finance", "staff"])
def test_finance_and_staff_read_any_partners_objects(world, scene, viewer):
    # given finance or staff
    client = api_as(getattr(world, viewer))
    # when they read each partner's placement and contract
    # then they see them
    for placement in (scene.hoshi_active, scene.wayfarer_active):
        response = client.get(f"/api/v1/placements/{placement.pk}")
        assert (response.status_code, response.json()["id"]) == (200, placement.pk)
        response = client.get(f"/api/v1/contracts/{placement.contract.pk}")
        assert (response.status_code, response.json()["partner"]) == (200, placement.partner.slug)


def test_a_partner_user_without_an_organisation_sees_nothing(world, scene):
    # given a partner-role user who belongs to no partner
    client = api_as(UserFactory(username="drifter"))
    # when they list and read
    # then every list is empty and every object is not found
    assert ids(client.get("/api/v1/placements")) == []
    assert ids(client.get("/api/v1/contracts")) == []
    assert ids(client.get("/api/v1/api-keys")) == []
    assert_error(client.get(f"/api/v1/placements/{scene.hoshi_active.pk}"), 404, "not_found")
    assert_error(client.get(f"/api/v1/contracts/{scene.hoshi_active.contract.pk}"), 404, "not_found")


def test_an_api_key_reads_only_its_own_partner(world, scene):
    # given Wayfarer's API key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {scene.wayfarer_secret}")
    # when it lists placements and contracts
    # then only Wayfarer's rows are there
    assert ids(client.get("/api/v1/placements")) == [scene.wayfarer_active.pk]
    assert ids(client.get("/api/v1/contracts")) == [scene.wayfarer_active.contract.pk]
    # when it reads Hoshi Mart's placement, contract and a version
    before = db_state()
    for path in (
        f"/api/v1/placements/{scene.hoshi_active.pk}",
        f"/api/v1/contracts/{scene.hoshi_active.contract.pk}",
        f"/api/v1/contracts/{scene.hoshi_active.contract.pk}/versions/1",
    ):
        response = client.get(path)
        # then each is not found
        assert_error(response, 404, "not_found")
    assert db_state() == before
    # and its own placement is readable
    response = client.get(f"/api/v1/placements/{scene.wayfarer_active.pk}")
    assert (response.status_code, response.json()["partner"]) == (200, "wayfarer")


def test_a_draft_never_sent_stays_private_after_it_is_withdrawn(world):
    # given a v1 draft the manager withdrew without ever proposing it, then a proposed v2
    placement = hire(world, until="approved")
    start = this_period(world.hoshi)
    v1 = services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=design_terms(minimum_per_period=1), effective_from=start
    )
    services.contract_version_withdraw(actor=world.hoshi_manager, version=v1, reason="typo")
    v2 = services.contract_version_draft(
        actor=world.hoshi_manager, placement=placement, terms=DESIGN_TERMS, effective_from=start
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=v2)
    contract = placement.contract.pk
    # when the partner's people read the contract, and v1 directly
    for user in (world.hoshi_owner, world.hoshi_member):
        client = api_as(user)
        # then only the version sent to them is there; v1 does not exist for them
        response = client.get(f"/api/v1/contracts/{contract}")
        assert [(v["number"], v["status"]) for v in response.json()["versions"]] == [(2, "proposed")]
        listed = client.get("/api/v1/contracts").json()["results"]
        assert [[v["number"] for v in row["versions"]] for row in listed] == [[2]]
        error = assert_error(client.get(f"/api/v1/contracts/{contract}/versions/1"), 404, "not_found")
        assert error["message"] == f"Contract {contract} has no version 1."
    # and the account manager still sees both
    response = api_as(world.hoshi_manager).get(f"/api/v1/contracts/{contract}")
    assert [(v["number"], v["status"]) for v in response.json()["versions"]] == [(1, "withdrawn"), (2, "proposed")]


def test_a_draft_withdrawn_by_ending_the_placement_stays_private(world):
    # given an active placement with an amendment drafted, then ended by the manager
    placement = hire(world)
    services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=placement,
        terms=design_terms(hold_days=5),
        effective_from=next_period_start(this_period(world.hoshi)),
    )
    services.placement_end(actor=world.hoshi_manager, placement=placement, reason="Contract over")
    # when the partner owner reads the contract
    response = api_as(world.hoshi_owner).get(f"/api/v1/contracts/{placement.contract.pk}")
    # then only v1, which they accepted, is shown
    assert [(v["number"], v["status"]) for v in response.json()["versions"]] == [(1, "accepted")]
    assert_error(
        api_as(world.hoshi_owner).get(f"/api/v1/contracts/{placement.contract.pk}/versions/2"), 404, "not_found"
    )
