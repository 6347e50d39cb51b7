"""Helpers shared by the API and domain tests: the exact error shape, and a snapshot of
every row a placements/contracts/API-keys request could touch, so a negative test can
assert that nothing at all changed."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response

from contracts.models import (
    Contract,
    ContractVersion,
    Notification,
    PartnerApiKey,
    Placement,
    PlacementTransition,
)
from core.models import AuditLog

_TRACKED = (Placement, PlacementTransition, Contract, ContractVersion, PartnerApiKey, AuditLog,
            Notification)


def db_state() -> dict[str, list[dict[str, Any]]]:
    """Every row (every field) of the tables the API writes, ordered by id."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in _TRACKED}


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in _TRACKED}


def error_of(response: Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]


def assert_error(response: Response, status: int, code: str,
                 fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The response is the one error shape, with this status, code and (exact) fields."""
    assert response.status_code == status, (response.status_code, response.content)
    error = error_of(response)
    assert error["code"] == code, error
    assert error["fields"] == (fields or {}), error
    return error

