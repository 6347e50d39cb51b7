"""Inquiries and the evidence export through the API: a member's session and the partner's API
key open inquiries, finance resolves them, refusals are 4xx with a stable code and nothing
changed, another partner sees nothing; and a statement's net and share recomputed from its
JSON evidence alone, by the documented rule, equal the statement's figures exactly."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from revenue.models import Inquiry, Statement
from revenue.services import inquiries
from revenue.services.settlement import statement_approve
from tests.support.api import assert_error, bearer
from tests.support.inquiries import NET, SHARE, inquiry_state, october_in_review
from tests.support.world import api_as


@pytest.fixture
def scene(world):
    return october_in_review(world)


def _url(statement, tail=""):
    return f"/api/v1/statements/{statement.pk}/inquiries{tail}"


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_member_opens_an_inquiry_on_a_line_and_reads_it(world, scene):
    client = api_as(world.hoshi_member)
    response = client.post(
        _url(scene.statement),
        {"reason": "not_our_customer", "comment": "Walk-in customer.", "line": "attributed_sales"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["line"], body["sale"], body["opened_by"]) == (
        "open",
        "attributed_sales",
        None,
        "hoshi-member",
    )
    assert [step["action"] for step in body["history"]] == ["inquiry.opened"]
    listed = client.get(_url(scene.statement)).json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert client.get(f"/api/v1/inquiries/{body['id']}").json()["comment"] == "Walk-in customer."


def test_the_partners_system_opens_one_on_a_sale_with_an_attachment(world, scene, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    client = bearer(world)
    response = client.post(
        _url(scene.statement),
        {
            "reason": "refunded",
            "comment": "Refunded at the till.",
            "sale": "oct-3",
            "attachment": SimpleUploadedFile("till.csv", b"order,amount\n3,400000\n", content_type="text/csv"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["sale"], body["attachment"], body["opened_by"]) == (
        "oct-3",
        "till.csv",
        f"api-key:{client.issued.key.prefix}",
    )
    assert Inquiry.objects.get().opened_by is None


@pytest.mark.parametrize(
    "payload, status, code, fields",
    [
        ({"reason": "nope", "comment": "x", "line": "attributed_sales"}, 400, "invalid", ["reason"]),
        ({"reason": "other", "comment": "x"}, 400, "invalid", ["line"]),
        ({"reason": "other", "comment": "x", "sale": "no-such-sale"}, 400, "invalid", ["sale"]),
        ({"reason": "other", "comment": "x", "line": "share"}, 400, "invalid", ["line"]),
    ],
)
def test_a_bad_request_is_refused_and_nothing_changes(world, scene, payload, status, code, fields):
    before = inquiry_state()
    response = api_as(world.hoshi_member).post(_url(scene.statement), payload, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert sorted(response.json()["error"]["fields"]) == fields
    assert inquiry_state() == before


def test_a_bad_attachment_is_refused_with_its_code(world, scene, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    before = inquiry_state()
    response = api_as(world.hoshi_member).post(
        _url(scene.statement),
        {
            "reason": "other",
            "comment": "x",
            "line": "attributed_sales",
            "attachment": SimpleUploadedFile("a.png", b"GIF89a"),
        },
        format="multipart",
    )
    assert_error(response, 400, "attachment_invalid", {"attachment": ["content does not match the .png extension."]})
    assert inquiry_state() == before


def test_after_the_window_or_once_approved_the_request_is_refused(world, scene):
    client = api_as(world.hoshi_member)
    payload = {"reason": "other", "comment": "x", "line": "attributed_sales"}
    Statement.objects.filter(pk=scene.statement.pk).update(submitted_at=timezone.now() - timedelta(days=8))
    before = inquiry_state()
    assert_error(client.post(_url(scene.statement), payload, format="json"), 409, "inquiry_window_closed")
    assert inquiry_state() == before
    Statement.objects.filter(pk=scene.statement.pk).update(submitted_at=timezone.now())
    statement_approve(actor=world.finance2, statement=Statement.objects.get(pk=scene.statement.pk))
    before = inquiry_state()
    assert_error(client.post(_url(scene.statement), payload, format="json"), 409, "statement_not_in_review")
    assert inquiry_state() == before


def test_approval_through_the_api_is_refused_while_an_inquiry_is_open(world, scene):
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member, statement=scene.statement, reason="other", comment="?", line_kind="refunds"
    )
    before = inquiry_state()
    response = api_as(world.finance2).post(f"/api/v1/statements/{scene.statement.pk}/approve")
    assert_error(response, 409, "inquiry_open", {"inquiries": [str(inquiry.pk)]})
    assert inquiry_state() == before


def test_finance_resolves_through_the_api_and_partners_cannot(world, scene):
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member, statement=scene.statement, reason="duplicate", comment="Twice.", sale=scene.sales[3]
    )
    url = f"/api/v1/inquiries/{inquiry.pk}/resolve"
    key = bearer(world)
    before = inquiry_state()
    assert_error(api_as(world.hoshi_owner).post(url, {"decision": "accept"}, format="json"), 403, "permission_denied")
    assert_error(key.post(url, {"decision": "accept"}, format="json"), 403, "permission_denied")
    assert_error(
        api_as(world.finance).post(url, {"decision": "reject"}, format="json"),
        400,
        "invalid",
        {"note": ["is required."]},
    )
    assert inquiry_state() == before
    response = api_as(world.finance).post(url, {"decision": "accept", "note": "Yes, twice."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["resolved_by"], body["figures_after"]["net"]) == ("accepted", "finance", NET - 100_000)
    assert [step["action"] for step in body["history"]] == ["inquiry.opened", "inquiry.accepted"]


def test_comments_and_withdrawal_through_the_api(world, scene):
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member, statement=scene.statement, reason="other", comment="?", line_kind="refunds"
    )
    response = api_as(world.finance).post(
        f"/api/v1/inquiries/{inquiry.pk}/comments", {"body": "Which refund?"}, format="json"
    )
    assert response.status_code == 201
    response = bearer(world).post(f"/api/v1/inquiries/{inquiry.pk}/withdraw")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
    assert [c["side"] for c in response.json()["comments"]] == ["platform"]


def test_another_partner_sees_nothing(world, scene):
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member, statement=scene.statement, reason="other", comment="?", line_kind="refunds"
    )
    clients = (api_as(world.wayfarer_owner), bearer(world, "wayfarer"))
    before = inquiry_state()
    for client in clients:
        for method, url in [
            ("get", _url(scene.statement)),
            ("post", _url(scene.statement)),
            ("get", f"/api/v1/inquiries/{inquiry.pk}"),
            ("post", f"/api/v1/inquiries/{inquiry.pk}/comments"),
            ("post", f"/api/v1/inquiries/{inquiry.pk}/withdraw"),
            ("get", f"/api/v1/statements/{scene.statement.pk}/evidence.json"),
            ("get", f"/api/v1/statements/{scene.statement.pk}/evidence.csv"),
        ]:
            response = getattr(client, method)(
                url, {"reason": "other", "comment": "x", "line": "refunds"}, format="json"
            )
            assert response.status_code == 404, (method, url, response.status_code)
    assert inquiry_state() == before


# --- evidence ----------------------------------------------------------------------------------------


def _share(rule: dict, net: int) -> Decimal:
    """The share rule as DESIGN.md §5a and the export's "method" state it."""
    if rule["model"] == "flat":
        return Decimal(net) * Decimal(rule["rate"])
    tiers = rule["tiers"]
    if net < 0:
        return Decimal(net) * Decimal(tiers[0]["rate"])
    if rule["model"] == "volume":
        for tier in tiers:
            if tier["up_to"] is None or net <= tier["up_to"]:
                return Decimal(net) * Decimal(tier["rate"])
    share, lower = Decimal(0), 0
    for tier in tiers:
        upper = net if tier["up_to"] is None else min(net, tier["up_to"])
        if upper > lower:
            share += Decimal(upper - lower) * Decimal(tier["rate"])
        if tier["up_to"] is None or net <= tier["up_to"]:
            break
        lower = tier["up_to"]
    return share


@pytest.mark.parametrize("approved", [False, True])
def test_net_and_share_recomputed_from_the_json_evidence_alone_equal_the_statement(world, scene, approved):
    statement = scene.statement
    if approved:
        statement = statement_approve(actor=world.finance2, statement=statement)
    response = bearer(world).get(f"/api/v1/statements/{statement.pk}/evidence.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    evidence = json.loads(_body(response))
    # when an auditor recomputes the statement from the file alone
    events = evidence["events"]
    net = sum(e["amount"] for e in events if e["line"] in ("attributed_sales", "late_sales")) - sum(
        e["amount"] for e in events if e["line"] == "refunds"
    )
    share = _share(evidence["statement"]["rule"]["share"], net)
    # then they get the statement's figures exactly
    figures = evidence["statement"]["figures"]
    assert (net, share) == (figures["net"], Decimal(figures["share_precise"]))
    assert (net, share) == (NET, Decimal(SHARE))
    assert (figures["net"], Decimal(figures["share_precise"])) == (statement.net, statement.share_precise)
    # and every event says how it was attributed
    first = next(e for e in events if e["external_id"] == "oct-1")
    assert {k: first[k] for k in ("type", "amount", "touch_kind", "touch_key", "attributed_key")} == {
        "type": "sale",
        "amount": 3_000_000,
        "touch_kind": "coupon",
        "touch_key": "C1",
        "attributed_key": "coupon_code",
    }
    assert (first["window_days"], first["attribution_model"], first["attribution_version"]) == (14, "last_touch", 0)
    refund = next(e for e in events if e["type"] == "refund")
    assert (refund["refund_of"], refund["line"], refund["touch_key"]) == ("oct-2", "refunds", "C2")
    assert len(events) == 5


def test_the_csv_evidence_has_a_row_per_event_with_the_rule(world, scene):
    response = api_as(world.finance).get(f"/api/v1/statements/{scene.statement.pk}/evidence.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    assert [row["external_id"] for row in rows] == ["oct-1", "oct-2", "oct-3", "oct-4", "oct-2-r"]
    assert {row["statement_net"] for row in rows} == {str(NET)}
    assert json.loads(rows[0]["share_rule"])["model"] == "graduated"
