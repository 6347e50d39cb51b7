"""Helpers shared by the API and domain tests: the exact error shape, a client with a
partner's API key, and a snapshot of every row a placements/contracts/API-keys request
could touch, so a negative test can assert that nothing at all changed."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.test import APIClient

from contracts import services as contract_services
from contracts.models import (
    Contract,
    ContractVersion,
    Notification,
    PartnerApiKey,
    Placement,
    PlacementTransition,
)
from core.models import AuditLog
from tests.support.snapshot import Snapshot, db_snapshot

_TRACKED = (Placement, PlacementTransition, Contract, ContractVersion, PartnerApiKey, AuditLog, Notification)


def db_state() -> Snapshot:
    """Every row (every field) of the tables the API writes."""
    return db_snapshot(*_TRACKED)


def bearer(world, partner: str = "hoshi") -> APIClient:
    """An API client authenticated by a new API key of `partner` (the key is `client.issued`)."""
    issued = contract_services.api_key_create(
        actor=getattr(world, f"{partner}_owner"), partner=getattr(world, partner), name="POS feed"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    client.issued = issued  # type: ignore[attr-defined]
    return client


def error_of(response: Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]


def assert_error(
    response: Response, status: int, code: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The response is the one error shape, with this status, code and (exact) fields."""
    assert response.status_code == status, (response.status_code, response.content)
    error = error_of(response)
    assert error["code"] == code, error
    assert error["fields"] == (fields or {}), error
    return error
