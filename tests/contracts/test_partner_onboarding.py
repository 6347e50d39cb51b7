"""A new partner organisation, its owner, its people and a payee set up end to end without a
shell — through the API and through the browser-facing views — and every way an invitation
can be refused (unknown, used, withdrawn, expired links; people outside the organisation;
bad input), each of which changes nothing."""

from __future__ import annotations

import hashlib
import re
import socket
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from contracts.models import Invitation, Partner, PartnerMembership, Payee
from contracts.services import invitation_send
from core.models import AuditLog, User
from tests.support.api import assert_error
from tests.support.web import browser, stored, text
from tests.support.world import api_as

PASSWORD = "Tsubaki-Lantern-42"
LINK = re.compile(r"http://testserver/invitations/([A-Za-z0-9_-]+)/")

NEW_PARTNER = {
    "slug": "sakura-books",
    "name": "Sakura Books",
    "industry": "convenience_retail",
    "currency": "JPY",
    "timezone": "Asia/Tokyo",
    "owner_email": "Mika@Sakura.example",
    "owner_name": "Mika Sato",
}


def token_in(message) -> str:
    [token] = LINK.findall(message.body)
    return token


def trail(partner: Partner | None = None, *, since: int = 0) -> list[tuple[str, str]]:
    entries = AuditLog.objects.filter(pk__gt=since).order_by("pk")
    if partner is not None:
        entries = entries.filter(partner_id=partner.pk)
    return list(entries.values_list("actor_label", "action"))


def sign_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content
    return client


# --- the journey through the API ------------------------------------------------------------


def test_an_account_manager_sets_up_a_partner_whose_owner_and_a_payee_follow_through_the_api(world, mailoutbox):
    first_entry = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    # given an account manager
    manager = api_as(world.hoshi_manager)
    # when they create a partner organisation with its owner's address
    response = manager.post("/api/v1/partners", NEW_PARTNER, format="json")
    # then the partner exists, managed by them, and its owner is invited by e-mail
    assert response.status_code == 201, response.content
    body = response.json()
    partner = Partner.objects.get(slug="sakura-books")
    assert body["partner"] == {
        "id": partner.pk,
        "slug": "sakura-books",
        "name": "Sakura Books",
        "industry": "convenience_retail",
        "currency": "JPY",
        "timezone": "Asia/Tokyo",
        "account_manager": "am-hoshi",
        "created_at": body["partner"]["created_at"],
    }
    invitation = body["owner_invitation"]
    assert (invitation["email"], invitation["role"], invitation["status"], invitation["invited_by"]) == (
        "mika@sakura.example",
        "owner",
        "pending",
        "am-hoshi",
    )
    assert "token" not in invitation
    [mail] = mailoutbox
    assert mail.to == ["mika@sakura.example"] and mail.subject == "[Haken] Join Sakura Books"
    token = token_in(mail)
    # only the token's digest is stored
    stored_invitation = Invitation.objects.get(pk=invitation["id"])
    assert stored_invitation.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(Invitation.objects.values())) + str(list(AuditLog.objects.values()))

    # when the owner accepts the invitation through the API (nobody signed in)
    accepted = APIClient().post(
        "/api/v1/invitations/accept", {"token": token, "username": "mika", "password": PASSWORD}, format="json"
    )
    # then their account is a partner owner of Sakura Books
    assert accepted.status_code == 201, accepted.content
    assert accepted.json() == {"username": "mika", "role": "partner", "partner": "sakura-books", "membership": "owner"}
    mika = User.objects.get(username="mika")
    assert (mika.email, mika.first_name, mika.membership.partner_id, mika.membership.role) == (
        "mika@sakura.example",
        "Mika Sato",
        partner.pk,
        "owner",
    )
    # and they sign in with the password they chose and see their portal
    owner = sign_in("mika", PASSWORD)
    portal = owner.get("/portal/")
    assert portal.status_code == 200 and "Sakura Books" in text(portal)
    # when the owner invites a colleague, and finance creates the studio that will be paid
    colleague = api_as(mika).post(
        f"/api/v1/partners/{partner.pk}/invitations", {"email": "ren@sakura.example", "name": "Ren"}, format="json"
    )
    payee = api_as(world.finance).post(
        "/api/v1/payees",
        {
            "slug": "studio-sakura",
            "name": "Studio Sakura",
            "kind": "studio",
            "payment_provider": "manual",
            "minimum_payout": 5000,
            "hold_days": 14,
            "email": "pay@studio-sakura.example",
        },
        format="json",
    )
    # then both exist
    assert colleague.status_code == 201 and colleague.json()["role"] == "member"
    assert payee.status_code == 201, payee.content
    assert Payee.objects.filter(slug="studio-sakura").values_list(
        "name", "kind", "payment_provider", "minimum_payout", "hold_days"
    ).get() == ("Studio Sakura", "studio", "manual", 5000, 14)
    # and the colleague's link works too, as a member
    Client().post(
        f"/invitations/{token_in(mailoutbox[1])}/",
        {"username": "ren", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert User.objects.get(username="ren").membership.role == "member"
    # and the audit trail shows each step with who took it
    assert trail(since=first_entry) == [
        ("am-hoshi", "partner.created"),
        ("am-hoshi", "invitation.sent"),
        ("mika", "partner.member_added"),
        ("mika", "invitation.accepted"),
        ("mika", "invitation.sent"),
        ("finance", "payee.created"),
        ("ren", "partner.member_added"),
        ("ren", "invitation.accepted"),
    ]
    # and the partner's people and invitations read back through the API
    detail = api_as(world.hoshi_manager).get(f"/api/v1/partners/{partner.pk}").json()
    assert [(m["username"], m["role"]) for m in detail["members"]] == [("mika", "owner"), ("ren", "member")]
    listed = api_as(mika).get(f"/api/v1/partners/{partner.pk}/invitations").json()["results"]
    assert [(i["email"], i["status"], i["accepted_user"]) for i in listed] == [
        ("ren@sakura.example", "accepted", "ren"),
        ("mika@sakura.example", "accepted", "mika"),
    ]


# --- the journey through the web pages -------------------------------------------------------


def test_staff_set_up_a_partner_the_owner_joins_by_the_link_and_finance_adds_a_payee_in_the_browser(world, mailoutbox):
    first_entry = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    # given staff on the console's Partners page
    staff = browser(world.staff)
    assert staff.get("/console/partners/").status_code == 200
    # when they create Sakura Books for an account manager, inviting its owner
    response = staff.post("/console/partners/", {**NEW_PARTNER, "account_manager": "am-wayfarer"})
    partner = Partner.objects.get(slug="sakura-books")
    assert response.status_code == 302 and response["Location"] == f"/console/partners/{partner.pk}/"
    assert partner.account_manager == world.wayfarer_manager
    page = staff.get(response["Location"])
    assert "mika@sakura.example" in text(page)
    token = token_in(mailoutbox[0])

    # when the owner opens the link (nobody signed in) and mistypes the second password
    visitor = Client()
    form = visitor.get(f"/invitations/{token}/")
    assert form.status_code == 200 and "Join Sakura Books" in text(form)
    before = stored()
    mistyped = visitor.post(
        f"/invitations/{token}/", {"username": "mika", "password": PASSWORD, "password_again": PASSWORD + "x"}
    )
    # then the field says so and nothing changed
    assert mistyped.status_code == 400
    assert "The two passwords differ." in text(mistyped)
    assert stored() == before
    # when they choose a user name and password
    joined = visitor.post(
        f"/invitations/{token}/", {"username": "mika", "password": PASSWORD, "password_again": PASSWORD}
    )
    # then they land on their portal, signed in as the owner
    assert joined.status_code == 302 and joined["Location"] == "/portal/"
    portal = visitor.get("/portal/")
    assert portal.status_code == 200 and portal.context["user"].username == "mika"
    assert "Welcome to Sakura Books, mika" in text(portal)
    # and they can sign in again later with the password
    assert sign_in("mika", PASSWORD).get("/portal/members/").status_code == 200

    # when the owner invites a colleague on the People page
    people = visitor.post("/portal/members/", {"email": "ren@sakura.example", "name": "Ren", "role": "member"})
    assert people.status_code == 302
    page = visitor.get("/portal/members/")
    assert "ren@sakura.example" in text(page) and "pending" in text(page)
    # and finance creates the payee on the Payees page
    finance = browser(world.finance)
    created = finance.post(
        "/console/payees/",
        {
            "new-name": "Studio Sakura",
            "new-slug": "studio-sakura",
            "new-kind": "studio",
            "new-payment_provider": "manual",
            "new-minimum_payout": "5000",
            "new-hold_days": "14",
            "new-email": "",
        },
    )
    assert created.status_code == 302
    assert "Studio Sakura" in text(finance.get("/console/payees/"))
    # then the audit trail shows every step with its actor, as finance reads it in the console
    assert trail(since=first_entry) == [
        ("staff", "partner.created"),
        ("staff", "invitation.sent"),
        ("mika", "partner.member_added"),
        ("mika", "invitation.accepted"),
        ("mika", "invitation.sent"),
        ("finance", "payee.created"),
    ]
    audit = text(finance.get("/console/audit/"))
    for summary in (
        "Created partner Sakura Books",
        "Invited mika@sakura.example to Sakura Books as owner",
        "mika accepted the invitation to Sakura Books as owner",
        "Created payee Studio Sakura",
    ):
        assert summary in audit
    # and the partner's account manager sees its people and invitations in the console
    managed = text(browser(world.wayfarer_manager).get(f"/console/partners/{partner.pk}/"))
    assert "mika@sakura.example" in managed and "ren@sakura.example" in managed


# --- links that cannot be used -----------------------------------------------------------------


@pytest.fixture
def invited(world, mailoutbox):
    """Hoshi's owner has invited a colleague; the link's token."""
    invitation_send(
        actor=world.hoshi_owner, partner=world.hoshi, email="new@hoshi.example", site_url="http://testserver/"
    )
    return token_in(mailoutbox[-1])


def accept_api(token: str, username: str = "newbie", password: str = PASSWORD):
    return APIClient().post(
        "/api/v1/invitations/accept", {"token": token, "username": username, "password": password}, format="json"
    )


def test_a_used_link_is_refused_the_second_time_and_changes_nothing(world, invited):
    assert accept_api(invited).status_code == 201
    before = stored()
    error = assert_error(accept_api(invited, username="someone-else"), 409, "invalid_transition")
    assert error["message"] == "This invitation has already been used. Sign in with the account it created."
    page = Client().get(f"/invitations/{invited}/")
    assert page.status_code == 409 and "already been used" in text(page)
    assert stored() == before


def test_an_expired_link_is_refused_and_changes_nothing(world, invited):
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    before = stored()
    error = assert_error(accept_api(invited), 409, "invalid_transition")
    assert error["message"].startswith("This invitation expired on ")
    posted = Client().post(
        f"/invitations/{invited}/", {"username": "newbie", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert posted.status_code == 409 and "This invitation expired on" in text(posted)
    assert stored() == before and not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("token", ["never-issued", "x" * 43, ""])
def test_an_unknown_link_is_not_found_and_changes_nothing(world, invited, token):
    before = stored()
    if token:
        assert Client().get(f"/invitations/{token}/").status_code == 404
        assert_error(accept_api(token), 404, "not_found")
    else:
        assert_error(accept_api(token), 400, "invalid", {"token": ["This field may not be blank."]})
    assert stored() == before


def test_a_newer_invitation_or_a_withdrawal_makes_the_old_link_useless(world, invited, mailoutbox):
    # when the owner invites the same address again, the first link is withdrawn
    invitation_send(
        actor=world.hoshi_owner, partner=world.hoshi, email="NEW@hoshi.example", site_url="http://testserver/"
    )
    newer = token_in(mailoutbox[-1])
    error = assert_error(accept_api(invited), 409, "invalid_transition")
    assert error["message"].startswith("This invitation was withdrawn")
    # and when they withdraw the newer one through the API, its link stops working too
    pending = Invitation.objects.get(revoked_at__isnull=True)
    response = api_as(world.hoshi_owner).post(f"/api/v1/invitations/{pending.pk}/revoke")
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    before = stored()
    assert_error(accept_api(newer), 409, "invalid_transition")
    assert stored() == before
    assert trail(world.hoshi)[-3:] == [
        ("hoshi-owner", "invitation.revoked"),
        ("hoshi-owner", "invitation.sent"),
        ("hoshi-owner", "invitation.revoked"),
    ]


def test_a_weak_password_or_a_taken_user_name_is_refused_per_field_and_the_link_still_works(world, invited):
    before = stored()
    assert_error(
        accept_api(invited, username="hoshi-OWNER"),
        400,
        "invalid",
        {"username": ["'hoshi-OWNER' is taken; choose another."]},
    )
    assert_error(
        accept_api(invited, password="password"), 400, "invalid", {"password": ["This password is too common."]}
    )
    page = Client().post(
        f"/invitations/{invited}/", {"username": "bad name!", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert page.status_code == 400 and 'id="username-errors"' in page.content.decode()
    assert stored() == before
    assert accept_api(invited).status_code == 201


# --- who may do what ---------------------------------------------------------------------------


def test_an_owner_invites_only_to_their_own_organisation_and_members_not_at_all(world, mailoutbox):
    clients = {
        name: api_as(getattr(world, name)) for name in ("wayfarer_owner", "hoshi_member", "finance", "wayfarer_manager")
    }
    page, member_page = browser(world.wayfarer_owner), browser(world.hoshi_member)
    before = stored()
    url = f"/api/v1/partners/{world.hoshi.pk}/invitations"
    # another partner's owner and the other account manager: no such partner for them
    assert_error(clients["wayfarer_owner"].post(url, {"email": "x@y.example"}, format="json"), 404, "not_found")
    assert_error(clients["wayfarer_manager"].post(url, {"email": "x@y.example"}, format="json"), 404, "not_found")
    assert page.post(f"/console/partners/{world.hoshi.pk}/", {"email": "x@y.example"}).status_code == 403
    # a member (not an owner) and finance see the partner but may not invite to it
    for who in ("hoshi_member", "finance"):
        error = assert_error(clients[who].post(url, {"email": "x@y.example"}, format="json"), 403, "permission_denied")
        assert error["message"] == "Only an owner of Hoshi Mart or its account manager can invite people to it."
    assert member_page.post("/portal/members/", {"email": "x@y.example", "role": "member"}).status_code == 403
    assert stored() == before and mailoutbox == []


def test_only_managers_create_partners_for_themselves_and_only_finance_creates_payees(world, mailoutbox):
    clients = {name: api_as(getattr(world, name)) for name in ("finance", "hoshi_owner", "hoshi_manager", "staff")}
    manager_page = browser(world.hoshi_manager)
    before = stored()
    for who in ("finance", "hoshi_owner"):
        assert_error(clients[who].post("/api/v1/partners", NEW_PARTNER, format="json"), 403, "permission_denied")
    # an account manager cannot hand a partner to another one (staff can)
    assert_error(
        clients["hoshi_manager"].post(
            "/api/v1/partners", {**NEW_PARTNER, "account_manager": "am-wayfarer"}, format="json"
        ),
        403,
        "permission_denied",
        {"account_manager": ["must be yourself."]},
    )
    payee = {"slug": "studio-x", "name": "Studio X", "kind": "studio"}
    for who in ("hoshi_owner", "hoshi_manager"):
        assert_error(clients[who].post("/api/v1/payees", payee, format="json"), 403, "permission_denied")
    assert manager_page.post("/console/payees/", {"new-name": "X"}).status_code == 403
    assert stored() == before and mailoutbox == []


def test_bad_partner_input_is_refused_per_field_and_leaves_no_partner_and_no_mail(world, mailoutbox):
    manager, manager_page = api_as(world.hoshi_manager), browser(world.hoshi_manager)
    before = stored()
    response = manager.post(
        "/api/v1/partners",
        {**NEW_PARTNER, "slug": "Sakura Books", "currency": "XXQ", "timezone": "Mars/Olympus"},
        format="json",
    )
    assert_error(
        response,
        400,
        "invalid",
        {
            "slug": ["use lower-case letters, digits and single hyphens, up to 64 characters."],
            "currency": ["unknown currency 'XXQ'."],
            "timezone": ["unknown time zone 'Mars/Olympus'."],
        },
    )
    taken = manager.post("/api/v1/partners", {**NEW_PARTNER, "slug": "hoshi-mart"}, format="json")
    assert_error(taken, 400, "invalid", {"slug": ["'hoshi-mart' is taken."]})
    # an owner address that already has an account: no partner is left behind either
    existing = manager.post("/api/v1/partners", {**NEW_PARTNER, "owner_email": world.hoshi_member.email}, format="json")
    assert_error(existing, 409, "conflict", {"owner_email": ["already has an account."]})
    page = manager_page.post("/console/partners/", {**NEW_PARTNER, "timezone": "Mars/Olympus"})
    assert page.status_code == 400 and "unknown time zone" in text(page)
    assert stored() == before and mailoutbox == []


def test_bad_payee_input_is_refused_per_field(world):
    finance, finance_page = api_as(world.finance), browser(world.finance)
    before = stored()
    assert_error(
        finance.post("/api/v1/payees", {"slug": "studio-aoi", "name": "Again", "kind": "studio"}, format="json"),
        400,
        "invalid",
        {"slug": ["taken"]},
    )
    assert_error(
        finance.post("/api/v1/payees", {"slug": "ok", "name": "Platform two", "kind": "platform"}, format="json"),
        400,
        "invalid",
        {"kind": ['"platform" is not a valid choice.']},
    )
    page = finance_page.post(
        "/console/payees/",
        {
            "new-name": "",
            "new-slug": "Bad Slug",
            "new-kind": "studio",
            "new-minimum_payout": "-1",
            "new-hold_days": "0",
        },
    )
    assert page.status_code == 400
    assert 'id="new-minimum_payout-errors"' in page.content.decode() and 'id="new-slug-errors"' in page.content.decode()
    assert stored() == before


def test_an_invitation_the_mail_server_refuses_is_503_and_nothing_is_stored(world, settings, mailoutbox):
    # given a real SMTP backend pointed at a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    manager = api_as(world.hoshi_manager)
    before = stored()
    # when an account manager creates a partner (its owner's invitation cannot be mailed)
    response = manager.post("/api/v1/partners", NEW_PARTNER, format="json")
    # then 503 service_unavailable, and neither the partner nor the invitation exists
    error = assert_error(response, 503, "service_unavailable")
    assert error["message"] == (
        "The invitation e-mail could not be sent just now; nothing was stored. Try again in a moment."
    )
    assert stored() == before


def test_accepting_signs_out_whoever_was_signed_in_and_signs_in_the_new_person(world, invited):
    # given Wayfarer's owner signed in on the same browser the link is opened in
    shared = browser(world.wayfarer_owner)
    response = shared.post(
        f"/invitations/{invited}/", {"username": "newbie", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert response.status_code == 302
    # then the session is the new Hoshi member's, seeing Hoshi's portal only
    assert shared.get("/api/v1/me").json() == {"username": "newbie", "role": "partner", "partner": "hoshi-mart"}
    assert PartnerMembership.objects.get(user__username="newbie").role == "member"
