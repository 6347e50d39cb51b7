"""Scope: one partner's placements, contracts and keys do not exist for anyone else.

Every page and action URL about Hoshi Mart's objects is tried by Wayfarer's owner and by
Wayfarer's account manager: the answer is 404 (never 403, which would confirm the object
exists) and the database is exactly as before. Console pages refuse partners with 403,
and every page sends anonymous visitors to the login page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from contracts import services
from contracts.models import ContractVersion, PartnerApiKey, Placement
from tests.support.factories import EmployeeFactory
from tests.support.web import browser, db_state
from tests.support.world import design_terms, hire, next_period_start_for, this_period


@dataclass
class Scene:
    """Hoshi Mart's placements in every state that has an action, and one API key."""

    requested: Placement
    drafting: Placement  # approved, with a draft version 1
    proposed: Placement  # approved, version 1 proposed
    active: Placement
    paused: Placement
    key: PartnerApiKey


@pytest.fixture
def scene(world) -> Scene:
    # hire() looks employees up on the world by name; three more states need three more.
    for slug in ("mei", "sora", "yuki"):
        setattr(world, slug, EmployeeFactory(slug=slug, name=slug.title()))
    drafting = hire(world, employee="mei", until="approved")
    services.contract_version_draft(
        actor=world.hoshi_manager, placement=drafting, terms=design_terms(), effective_from=this_period(world.hoshi)
    )
    return Scene(
        requested=hire(world, employee="rinna", until="requested"),
        drafting=Placement.objects.get(pk=drafting.pk),
        proposed=hire(world, employee="kai", until="proposed"),
        active=hire(world, employee="sora"),
        paused=hire(world, employee="yuki", until="paused"),
        key=services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="Hoshi POS").key,
    )


def terms_post(scene: Scene) -> dict[str, str]:
    return {
        "effective_from": next_period_start_for(scene.active.partner).isoformat(),
        "terms": json.dumps(design_terms()),
    }


# (name, url, POST data or None for GET); the URL is built from the scene.
PORTAL_URLS: list[tuple[str, Any, Any]] = [
    ("portal placement", lambda s: reverse("portal-placement", args=[s.active.pk]), None),
    (
        "withdraw",
        lambda s: reverse("portal-placement-action", args=[s.requested.pk, "withdraw"]),
        {"reason": "changed our mind"},
    ),
    (
        "end (portal)",
        lambda s: reverse("portal-placement-action", args=[s.active.pk, "end"]),
        {"reason": "closing stores"},
    ),
    ("accept", lambda s: reverse("portal-version-action", args=[s.proposed.pk, 1, "accept"]), {}),
    (
        "reject",
        lambda s: reverse("portal-version-action", args=[s.proposed.pk, 1, "reject"]),
        {"reason": "too expensive"},
    ),
    ("revoke key", lambda s: reverse("portal-api-key-revoke", args=[s.key.pk]), {}),
]
CONSOLE_URLS: list[tuple[str, Any, Any]] = [
    ("console placement", lambda s: reverse("console-placement", args=[s.active.pk]), None),
    ("approve", lambda s: reverse("console-placement-action", args=[s.requested.pk, "approve"]), {"reason": ""}),
    (
        "decline",
        lambda s: reverse("console-placement-action", args=[s.requested.pk, "decline"]),
        {"reason": "no capacity"},
    ),
    ("pause", lambda s: reverse("console-placement-action", args=[s.active.pk, "pause"]), {"reason": "refit"}),
    ("resume", lambda s: reverse("console-placement-action", args=[s.paused.pk, "resume"]), {}),
    (
        "end (console)",
        lambda s: reverse("console-placement-action", args=[s.active.pk, "end"]),
        {"reason": "contract over"},
    ),
    ("draft terms", lambda s: reverse("console-terms-draft", args=[s.active.pk]), terms_post),
    ("check terms", lambda s: reverse("console-terms-check", args=[s.active.pk]), terms_post),
    ("edit draft", lambda s: reverse("console-version-update", args=[s.drafting.pk, 1]), terms_post),
    ("propose", lambda s: reverse("console-version-action", args=[s.drafting.pk, 1, "propose"]), {}),
    ("withdraw version", lambda s: reverse("console-version-action", args=[s.proposed.pk, 1, "withdraw"]), {}),
]


def _request(client: Client, scene: Scene, url: Any, data: Any) -> Any:
    path = url(scene)
    if data is None:
        return client.get(path)
    return client.post(path, data(scene) if callable(data) else data)


@pytest.mark.parametrize(
    ("what", "url", "data"), PORTAL_URLS + CONSOLE_URLS, ids=[case[0] for case in PORTAL_URLS + CONSOLE_URLS]
)
def test_the_other_partners_account_manager_gets_404_and_nothing_changes(world, scene, what, url, data):
    # given Wayfarer's account manager, who does not manage Hoshi Mart
    client = browser(world.wayfarer_manager)
    before = db_state()
    # when they open or act on one of Hoshi Mart's objects
    response = _request(client, scene, url, data)
    # then it does not exist for them, and nothing changed
    assert response.status_code == 404
    assert db_state() == before


@pytest.mark.parametrize(("what", "url", "data"), PORTAL_URLS, ids=[case[0] for case in PORTAL_URLS])
def test_another_partners_owner_gets_404_on_portal_urls_and_nothing_changes(world, scene, what, url, data):
    # given Wayfarer's owner
    client = browser(world.wayfarer_owner)
    before = db_state()
    # when they open or act on one of Hoshi Mart's objects in the portal
    response = _request(client, scene, url, data)
    # then it does not exist for them, and nothing changed
    assert response.status_code == 404
    assert db_state() == before


@pytest.mark.parametrize(("what", "url", "data"), CONSOLE_URLS, ids=[case[0] for case in CONSOLE_URLS])
@pytest.mark.parametrize("who", ["wayfarer_owner", "hoshi_owner", "hoshi_member"])
def test_partners_get_403_on_console_urls_and_nothing_changes(world, scene, who, what, url, data):
    # given a partner member, even of the partner concerned
    client = browser(getattr(world, who))
    before = db_state()
    # when they open or act through a console URL
    response = _request(client, scene, url, data)
    # then the console refuses them, and nothing changed
    assert response.status_code == 403
    assert db_state() == before


@pytest.mark.parametrize("name", ["console", "console-audit"])
def test_partners_get_403_on_console_lists(world, name):
    # given a partner owner
    # when they open a console list
    response = browser(world.hoshi_owner).get(reverse(name))
    # then it is refused
    assert response.status_code == 403


def test_lists_show_only_what_is_in_scope(world, scene):
    # given Hoshi Mart's placements and key, and one Wayfarer placement
    wayfarer_placement = hire(world, partner="wayfarer", employee="kai", until="requested")
    hoshi_ids = set(Placement.objects.filter(partner=world.hoshi).values_list("pk", flat=True))

    # when Wayfarer's owner opens the portal and the API keys
    portal = browser(world.wayfarer_owner).get(reverse("portal"))
    keys = browser(world.wayfarer_owner).get(reverse("portal-api-keys"))
    # then only Wayfarer's placement is listed, no proposal waits, and no key is shown
    assert [p.pk for p, _card in portal.context["placements"]] == [wayfarer_placement.pk]
    assert list(portal.context["awaiting"]) == []
    assert list(keys.context["keys"]) == []
    assert "Hoshi POS" not in keys.content.decode()

    # when Wayfarer's account manager opens the console and the audit log
    console = browser(world.wayfarer_manager).get(reverse("console"))
    audit = browser(world.wayfarer_manager).get(reverse("console-audit"))
    # then only Wayfarer's placement and its entries appear
    assert [p.pk for p in console.context["waiting"]] == [wayfarer_placement.pk]
    assert [p.pk for p in console.context["page"].object_list] == [wayfarer_placement.pk]
    assert {row.entry.partner_id for row in audit.context["rows"]} == {world.wayfarer.pk}

    # when they filter the audit log by Hoshi Mart's slug
    response = browser(world.wayfarer_manager).get(reverse("console-audit"), {"partner": "hoshi-mart"})
    # then Hoshi Mart is not a choice for them: the filter is refused, the list stays theirs
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert {row.entry.partner_id for row in response.context["rows"]} == {world.wayfarer.pk}

    # and Hoshi Mart's own manager sees all of Hoshi's placements
    console = browser(world.hoshi_manager).get(reverse("console"))
    assert {p.pk for p in console.context["page"].object_list} == hoshi_ids


def test_partners_never_see_drafts_the_manager_has_not_sent(world, scene):
    # given a draft version 1 that was never proposed
    assert scene.drafting.contract.versions.get().status == ContractVersion.Status.DRAFT
    # when the partner owner opens the placement
    response = browser(world.hoshi_owner).get(reverse("portal-placement", args=[scene.drafting.pk]))
    # then no version is shown
    assert response.status_code == 200
    assert response.context["versions"] == []
    # and acting on the draft by number finds nothing
    before = db_state()
    response = browser(world.hoshi_owner).post(reverse("portal-version-action", args=[scene.drafting.pk, 1, "accept"]))
    assert response.status_code == 404
    assert db_state() == before


ANONYMOUS_GETS = [
    lambda s: reverse("catalog"),
    lambda s: reverse("resume", args=["rinna"]),
    lambda s: reverse("portal"),
    lambda s: reverse("portal-api-keys"),
    lambda s: reverse("console"),
    lambda s: reverse("console-audit"),
    lambda s: reverse("notifications"),
    lambda s: reverse("home"),
]


@pytest.mark.parametrize("url", ANONYMOUS_GETS)
def test_anonymous_visitors_are_sent_to_login(world, scene, url, client):
    # given nobody signed in
    # when they open a page
    path = url(scene)
    response = client.get(path)
    # then they are sent to the login page, coming back here afterwards
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={path}"


@pytest.mark.parametrize(
    ("what", "url", "data"), PORTAL_URLS + CONSOLE_URLS, ids=[case[0] for case in PORTAL_URLS + CONSOLE_URLS]
)
def test_anonymous_actions_are_sent_to_login_and_change_nothing(world, scene, client, what, url, data):
    # given nobody signed in
    before = db_state()
    # when they open or post to a placement, contract or key URL
    response = _request(client, scene, url, data)
    # then they are sent to log in, and nothing changed
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert db_state() == before


@pytest.mark.parametrize("path", ["portal-hire", "notifications-read", "portal-api-keys"])
def test_anonymous_posts_to_other_actions_change_nothing(world, scene, client, path):
    # given nobody signed in
    before = db_state()
    url = reverse(path, args=["sora"]) if path == "portal-hire" else reverse(path)
    # when they post
    response = client.post(url, {"note": "x", "name": "sneaky"})
    # then they are sent to log in, and nothing changed
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert db_state() == before


def test_get_on_an_action_url_is_refused(world, scene):
    # given the account manager
    before = db_state()
    # when a link (GET) points at an action URL
    response = browser(world.hoshi_manager).get(
        reverse("console-placement-action", args=[scene.requested.pk, "approve"])
    )
    # then only POST may act
    assert response.status_code == 405
    assert db_state() == before
