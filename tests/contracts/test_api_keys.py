"""Partner API keys: shown once, stored only as a SHA-256 digest, read-only credentials
for the partner's own data, refused (401) when wrong, malformed or revoked."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from contracts import services
from contracts.models import PartnerApiKey
from core.models import AuditLog
from tests.support.api import assert_error, db_state
from tests.support.world import api_as, hire

KEY_SHAPE = re.compile(r"hk_live_(?P<prefix>[0-9a-f]{8})_[A-Za-z0-9_-]{43}")


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def issue(world, partner: str = "hoshi", name: str = "POS feed") -> services.IssuedApiKey:
    return services.api_key_create(actor=getattr(world, f"{partner}_owner"), partner=getattr(world, partner), name=name)


def test_an_owner_creates_a_key_shown_once_and_stored_as_a_digest(world):
    # given Hoshi Mart's owner, signed in
    client = api_as(world.hoshi_owner)
    # when they create a key
    response = client.post("/api/v1/api-keys", {"name": "POS feed"}, format="json")
    # then the full key is in this response, in the documented shape
    assert response.status_code == 201
    body = response.json()
    secret = body["key"]
    assert secret.startswith("hk_live_")
    match = KEY_SHAPE.fullmatch(secret)
    assert match is not None, secret
    key = PartnerApiKey.objects.get()
    assert set(body) == {"key", "api_key"}
    assert body["api_key"] == {
        "id": key.pk,
        "partner": "hoshi-mart",
        "name": "POS feed",
        "prefix": match["prefix"],
        "created_by": "hoshi-owner",
        "created_at": body["api_key"]["created_at"],
        "last_used_at": None,
        "revoked_at": None,
        "active": True,
    }
    # and the database holds only its SHA-256 digest: the key is in no column of the row
    assert key.key_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert key.prefix == match["prefix"]
    row = PartnerApiKey.objects.filter(pk=key.pk).values().get()
    assert all(secret not in str(value) for value in row.values()), row
    # nor in the audit trail
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor_id, entry.partner_id) == ("api_key.created", world.hoshi_owner.pk, world.hoshi.pk)
    assert all(secret not in str(value) for value in AuditLog.objects.values().get().values())
    # and listing keys never shows it again
    response = client.get("/api/v1/api-keys")
    assert response.status_code == 200
    assert [set(row) for row in response.json()["results"]] == [
        {"id", "partner", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at", "active"}
    ]
    assert secret not in response.content.decode()
    assert match["prefix"] in response.content.decode()


def test_a_bearer_key_reads_its_partners_data_and_marks_itself_used(world):
    # given placements at both partners and a Hoshi Mart key never used
    hoshi = hire(world, until="requested")
    hire(world, partner="wayfarer", employee="kai", until="requested")
    issued = issue(world)
    assert PartnerApiKey.objects.get().last_used_at is None
    started = timezone.now()
    client = bearer(issued.secret)
    # when the partner's system lists placements
    response = client.get("/api/v1/placements")
    # then it sees only Hoshi Mart's
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [hoshi.pk]
    # and /me says who it is
    response = client.get("/api/v1/me")
    assert (response.status_code, response.json()) == (
        200,
        {"username": f"api-key:{issued.key.prefix}", "role": "partner", "partner": "hoshi-mart"},
    )
    # and the key's last use is recorded
    last_used = PartnerApiKey.objects.get().last_used_at
    assert last_used is not None
    assert started <= last_used <= timezone.now()


def test_last_used_is_written_at_most_once_a_minute(world):
    # given a key used 30 seconds ago
    issued = issue(world)
    recent = timezone.now() - timedelta(seconds=30)
    PartnerApiKey.objects.filter(pk=issued.key.pk).update(last_used_at=recent)
    # when it is used again
    assert bearer(issued.secret).get("/api/v1/me").status_code == 200
    # then last use is not rewritten (a read stays a read)
    assert PartnerApiKey.objects.get().last_used_at == recent
    # when it was last used two minutes ago
    old = timezone.now() - timedelta(minutes=2)
    PartnerApiKey.objects.filter(pk=issued.key.pk).update(last_used_at=old)
    assert bearer(issued.secret).get("/api/v1/me").status_code == 200
    # then it is brought up to date
    assert PartnerApiKey.objects.get().last_used_at > old + timedelta(minutes=1)


def test_the_bearer_scheme_is_case_insensitive(world):
    # given a valid key sent with the scheme in lower case (RFC 7235: schemes are case-insensitive)
    issued = issue(world)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {issued.secret}")
    # when it reads /me
    response = client.get("/api/v1/me")
    # then it is authenticated as the key
    assert (response.status_code, response.json()["partner"]) == (200, "hoshi-mart")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "Bearer hk_live_0000000f_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "The API key is not valid or has been revoked.",
        ),
        ("Bearer not-a-key", "The API key is not valid or has been revoked."),
        ("Bearer hk_live_", "The API key is not valid or has been revoked."),
        ("Bearer", "The Authorization header has no API key."),
        ("Bearer    ", "The Authorization header has no API key."),
        ("Token abc", "Authentication credentials were not provided."),
        ("Basic aG9zaGk6cGFzcw==", "Authentication credentials were not provided."),
        ("hk_live_0000000f_AAAA", "Authentication credentials were not provided."),
    ],
    ids=[
        "unknown-prefix",
        "not-a-key",
        "prefix-only",
        "no-key",
        "blank-key",
        "token-scheme",
        "basic-scheme",
        "no-scheme",
    ],
)
def test_wrong_and_malformed_keys_are_not_authenticated(world, header, message):
    # given an active key, and a request with a bad Authorization header
    issue(world)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    before = db_state()
    # when it reads placements
    response = client.get("/api/v1/placements")
    # then 401 not_authenticated, with the Bearer challenge, and nothing changed
    error = assert_error(response, 401, "not_authenticated")
    assert error["message"] == message
    assert response["WWW-Authenticate"] == "Bearer"
    assert db_state() == before


def test_a_key_with_the_right_prefix_but_wrong_secret_is_refused(world):
    # given an active key, and the same key with its last character changed
    issued = issue(world)
    forged = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    before = db_state()
    # when the forged key is used
    response = bearer(forged).get("/api/v1/me")
    # then 401, and the real key's last use is untouched
    assert_error(response, 401, "not_authenticated")
    assert db_state() == before


def test_a_revoked_key_is_refused(world):
    # given a key, revoked by the owner
    issued = issue(world)
    response = api_as(world.hoshi_owner).post(f"/api/v1/api-keys/{issued.key.pk}/revoke")
    assert (response.status_code, response.json()["active"]) == (200, False)
    assert response.json()["revoked_at"] is not None
    before = db_state()
    # when it is used
    response = bearer(issued.secret).get("/api/v1/placements")
    # then 401 not_authenticated, and nothing changed
    error = assert_error(response, 401, "not_authenticated")
    assert error["message"] == "The API key is not valid or has been revoked."
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/placements", {"employee": "kai"}),
        ("post", "/api/v1/placements/{p}/end", {"reason": "Done"}),
        ("post", "/api/v1/placements/{p}/pause", {"reason": "Refit"}),
        ("post", "/api/v1/contracts/{c}/versions/1/withdraw", {}),
        ("put", "/api/v1/contracts/{c}/versions/1", {"terms": {}, "effective_from": "2026-01-01"}),
        ("post", "/api/v1/api-keys", {"name": "Another"}),
        ("post", "/api/v1/api-keys/{k}/revoke", {}),
        ("get", "/api/v1/api-keys", None),
    ],
    ids=["hire", "end", "pause", "withdraw-version", "edit-version", "create-key", "revoke-key", "list-keys"],
)
def test_api_keys_cannot_write(world, method, path, body):
    # given an active placement and Hoshi Mart's key
    placement = hire(world)
    issued = issue(world)
    client = bearer(issued.secret)
    client.get("/api/v1/me")  # the key's first use is recorded before the snapshot
    before = db_state()
    # when the key attempts a person's action
    url = path.format(p=placement.pk, c=placement.contract.pk, k=issued.key.pk)
    response = getattr(client, method)(url, body, format="json")
    # then 403 permission_denied, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "This action needs a person signed in; API keys may only read it."
    assert db_state() == before


def test_a_member_cannot_create_or_revoke_keys(world):
    # given a key made by Hoshi Mart's owner, and a (non-owner) member
    issued = issue(world)
    client = api_as(world.hoshi_member)
    before = db_state()
    # when the member creates a key
    response = client.post("/api/v1/api-keys", {"name": "Mine"}, format="json")
    # then 403
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only an owner of Hoshi Mart can create API keys."
    # when the member revokes the owner's key
    response = client.post(f"/api/v1/api-keys/{issued.key.pk}/revoke")
    # then 403 too, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only an owner of Hoshi Mart can revoke API keys."
    assert db_state() == before
    # but the member may see the key exists (never the key itself)
    response = client.get("/api/v1/api-keys")
    assert [row["id"] for row in response.json()["results"]] == [issued.key.pk]


@pytest.mark.parametrize("actor", ["hoshi_manager", "finance", "staff"])
def test_platform_people_cannot_create_or_revoke_a_partners_keys(world, actor):
    # given a Hoshi Mart key
    issued = issue(world)
    client = api_as(getattr(world, actor))
    before = db_state()
    # when the account manager, finance or staff creates or revokes keys
    response = client.post("/api/v1/api-keys", {"name": "Ours"}, format="json")
    # then 403 both times, and nothing changed
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only a partner's owner can create its API keys."
    response = client.post(f"/api/v1/api-keys/{issued.key.pk}/revoke")
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only an owner of Hoshi Mart can revoke API keys."
    assert db_state() == before


def test_revoking_twice_conflicts(world):
    # given a key revoked once
    issued = issue(world)
    client = api_as(world.hoshi_owner)
    response = client.post(f"/api/v1/api-keys/{issued.key.pk}/revoke")
    assert response.status_code == 200
    key = PartnerApiKey.objects.get()
    assert (key.revoked_by_id, key.is_active) == (world.hoshi_owner.pk, False)
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "api_key.created",
        "api_key.revoked",
    ]
    before = db_state()
    # when it is revoked again
    response = client.post(f"/api/v1/api-keys/{issued.key.pk}/revoke")
    # then 409 invalid_transition, and nothing changed (the first revocation stands)
    error = assert_error(response, 409, "invalid_transition")
    assert error["message"] == (f"Key {key.prefix}… was already revoked on {key.revoked_at:%Y-%m-%d}.")
    assert db_state() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name": ["This field is required."]}),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"name": "   "}, {"name": ["This field may not be blank."]}),
        ({"name": "x" * 81}, {"name": ["Ensure this field has no more than 80 characters."]}),
    ],
    ids=["missing", "empty", "blank", "too-long"],
)
def test_a_key_needs_a_name(world, body, fields):
    # given the owner
    before = db_state()
    # when they create a key with no usable name
    response = api_as(world.hoshi_owner).post("/api/v1/api-keys", body, format="json")
    # then 400 names the field, and nothing changed
    assert_error(response, 400, "invalid", fields)
    assert db_state() == before


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/schema/"])
def test_a_partner_system_reads_the_api_docs_with_its_key(world, path):
    # given a partner system's key (found by the isolation matrix: the docs page, a DRF view
    # rendering the site's layout, asked the key for a person's unread notices and failed 500)
    client = bearer(issue(world).secret)
    # when it asks for the interactive docs or the schema with its key
    response = client.get(path)
    # then they are served, with no person's navigation
    assert response.status_code == 200
    assert b"Notifications" not in response.content
