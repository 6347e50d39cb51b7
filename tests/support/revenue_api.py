"""Driving the revenue engine through the HTTP API, as the partner's systems (a bearer key)
and finance people (a session) do, waiting for the worker where the API answers 202."""

from __future__ import annotations

from rest_framework.test import APIClient

from contracts import services as contract_services
from tests.support.workers import wait_for


def partner_client(world) -> APIClient:
    issued = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def post(client: APIClient, path: str, body: dict) -> dict:
    response = client.post(path, body, format="json")
    assert response.status_code in (200, 202), response.content
    return response.json()


def settle(finance: APIClient, period: str) -> dict:
    run = post(finance, "/api/v1/settlement-runs", {"period": period})
    return wait_for(
        lambda: (r := finance.get(f"/api/v1/settlement-runs/{run['id']}").json())["status"] == "done" and r,
        timeout=60,
        what=f"settlement of {period}",
    )


def statement(finance: APIClient, period: str) -> dict:
    [found] = finance.get(f"/api/v1/statements?period={period}").json()["results"]
    return found


def approve(finance: APIClient, found: dict, approver: APIClient) -> dict:
    # Four eyes: one finance user submits, another approves.
    post(finance, f"/api/v1/statements/{found['id']}/submit", {})
    return post(approver, f"/api/v1/statements/{found['id']}/approve", {})
