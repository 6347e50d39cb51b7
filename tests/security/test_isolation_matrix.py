"""Tenant isolation, the whole matrix: every URL pattern of the project × every role ×
another partner's objects.

The scene is the demo data (three partners with placements in every state, statements,
an invoice, conversations, documents, a widget, a copy draft) plus, for each partner, an API
key and a CSV upload with a rejected row. Every URL pattern is walked as in the CSRF test:

- A pattern that names an object (a placement, statement, upload, conversation, …) is filled
  with one partner's object and requested (GET and POST) by every person whose scope does not
  include that partner, and by that partner's neighbours' API keys: each is refused — 404, or
  403 on a page their role never reaches, or sent to sign in — and nothing stored changes. The
  same URL is reached by someone in scope (200, or 405 for POST-only actions), so every row of
  the matrix is proven to point at a real object.
- Every page and endpoint, with or without objects in its path, and with filters naming other
  partners' objects in its query, answers each person and key without a single string that
  identifies a partner outside their scope: names, sale ids, API-key names and prefixes,
  upload file names, conversation texts and ids, document titles, widget keys, payee-free
  statement figures of the PDF. That covers the lists, dashboards, chart data, exports,
  transcripts and PDFs.

A new URL pattern with a path parameter this test cannot fill fails it until it is added.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from agents.models import Conversation, CopyDraft, KnowledgeDocument, Message, Widget
from contracts.models import Invitation, Partner, PartnerApiKey, Payee, Placement
from contracts.services import api_key_create, invitation_send
from core.models import User
from ledger.models import Account
from payments.models import Invoice, PayoutRun
from revenue.models import Inquiry, Sale, SaleUpload, SettlementRun, Statement
from revenue.services.uploads import upload_create, upload_process
from tests.support.factories import InquiryFactory
from tests.support.url_routes import Route, every_route
from tests.support.web import stored
from webhooks.models import OutboundEvent, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_endpoint_create, webhook_event_emit

PARTNERS = ("hoshi-mart", "wayfarer", "lumen")
# username → the partners whose data they may see (finance and staff: every partner).
PEOPLE: dict[str, set[str]] = {
    "hoshi-owner": {"hoshi-mart"},
    "hoshi-clerk": {"hoshi-mart"},
    "wayfarer-owner": {"wayfarer"},
    "lumen-owner": {"lumen"},
    "am-sato": {"hoshi-mart", "wayfarer"},
    "am-okafor": {"lumen"},
    "finance-ito": set(PARTNERS),
    "admin": set(PARTNERS),
}
ANONYMOUS = "anonymous"


@dataclass
class Caller:
    """A person signed in with the session, nobody, or a partner system with its API key."""

    name: str
    scope: set[str]
    client: Client
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str) -> Any:
        if path.startswith("/api/"):
            return getattr(self.client, method)(
                path, {} if method == "post" else None, content_type="application/json", headers=self.headers
            )
        return getattr(self.client, method)(path, headers=self.headers)


@dataclass
class Scene:
    partners: dict[str, Partner]
    # URL parameter → partner slug → a value naming that partner's object.
    values: dict[str, dict[str, str]]
    markers: dict[str, set[str]]  # partner slug → strings that identify it
    callers: list[Caller]


def _first(queryset, what: str):
    found = queryset.order_by("pk").first()
    assert found is not None, f"the scene has no {what}"
    return found


@pytest.fixture
def scene(db, settings, tmp_path) -> Scene:
    settings.MEDIA_ROOT = str(tmp_path)
    for command in ("seed_demo", "seed_demo_revenue", "seed_demo_payments", "seed_demo_agents"):
        call_command(command, stdout=StringIO())
    partners = {p.slug: p for p in Partner.objects.filter(slug__in=PARTNERS)}
    owners = {"hoshi-mart": "hoshi-owner", "wayfarer": "wayfarer-owner", "lumen": "lumen-owner"}
    secrets: dict[str, str] = {}
    for slug, partner in partners.items():
        owner = User.objects.get(username=owners[slug])
        secrets[slug] = api_key_create(actor=owner, partner=partner, name=f"{slug} till system").secret
        upload = upload_create(
            actor=owner,
            partner=partner,
            file=SimpleUploadedFile(
                f"{slug}-october-sales.csv",
                (
                    f"external_id,type,occurred_at,amount,currency\n"
                    f"{slug}-upload-ok,sale,2026-10-03T12:00:00+09:00,1200,{partner.currency}\n"
                    f"{slug}-upload-bad,sale,2026-10-03T12:00:00+09:00,-5,{partner.currency}\n"
                ).encode(),
                content_type="text/csv",
            ),
        )
        upload_process(upload_id=upload.pk)
        # a webhook endpoint per partner with one delivery of an event (its URL marks the partner)
        webhook_endpoint_create(
            actor=owner,
            partner=partner,
            url=f"https://hooks.{slug}.example/haken",
            event_types=["statement.submitted"],
            description=f"ERP of {partner.name}",
        )
        webhook_event_emit(partner=partner, type="statement.submitted", key=f"{slug}-k", payload={"who": slug})
        # an invitation per partner, from its account manager (its address marks the partner)
        invitation_send(
            actor=partner.account_manager,
            partner=partner,
            email=f"new-colleague@{slug}.example",
            name=f"Colleague of {partner.name}",
            site_url="http://testserver/",
        )

    values: dict[str, dict[str, str]] = {}

    def per_partner(param: str, pick: Callable[[Partner], Any]) -> None:
        values[param] = {}
        for slug, partner in partners.items():
            value = pick(partner)
            if value is not None:
                values[param][slug] = str(value)

    def placement_of(partner: Partner) -> int:
        return _first(Placement.objects.filter(partner=partner, contract__isnull=False), "placement").pk

    per_partner("placement_id", placement_of)
    per_partner(
        "contract_id",
        lambda p: _first(Placement.objects.filter(partner=p, contract__isnull=False), "contract").contract.pk,
    )
    per_partner("number", lambda p: 1)
    per_partner("key_id", lambda p: _first(PartnerApiKey.objects.filter(partner=p), "key").pk)
    per_partner(
        "statement_id",
        lambda p: getattr(Statement.objects.filter(contract__placement__partner=p).order_by("pk").first(), "pk", None),
    )
    per_partner(
        "invoice_id",
        lambda p: getattr(
            Invoice.objects.filter(statement__contract__placement__partner=p).order_by("pk").first(), "pk", None
        ),
    )
    per_partner("upload_id", lambda p: _first(SaleUpload.objects.filter(partner=p), "upload").pk)

    # an inquiry per partner on its first statement, with an attachment (its comment and file
    # name mark the partner)
    def inquiry_of(partner: Partner) -> int | None:
        statement = Statement.objects.filter(contract__placement__partner=partner).order_by("pk").first()
        if statement is None:
            return None
        inquiry = InquiryFactory(
            statement=statement,
            comment=f"Inquiry of {partner.name} about its sales",
            attachment_name=f"{partner.slug}-receipt.pdf",
        )
        inquiry.attachment.save(f"{partner.slug}-receipt.pdf", ContentFile(b"%PDF-1.4 receipt"))
        return inquiry.pk

    per_partner("inquiry_id", inquiry_of)
    per_partner(
        "conversation_id",
        lambda p: getattr(Conversation.objects.filter(placement__partner=p).order_by("pk").first(), "pk", None),
    )
    per_partner(
        "public_id",
        lambda p: getattr(Conversation.objects.filter(placement__partner=p).order_by("pk").first(), "public_id", None),
    )
    per_partner(
        "message_id",
        lambda p: getattr(
            Message.objects.filter(conversation__placement__partner=p).order_by("pk").first(), "pk", None
        ),
    )
    per_partner(
        "document_id",
        lambda p: getattr(KnowledgeDocument.objects.filter(placement__partner=p).order_by("pk").first(), "pk", None),
    )
    per_partner(
        "draft_id", lambda p: getattr(CopyDraft.objects.filter(placement__partner=p).order_by("pk").first(), "pk", None)
    )
    per_partner("external_id", lambda p: _first(Sale.objects.filter(partner=p), "sale").external_id)
    per_partner("partner_id", lambda p: p.pk)
    per_partner("invitation_id", lambda p: _first(Invitation.objects.filter(partner=p), "invitation").pk)
    per_partner(
        "period",
        lambda p: getattr(
            Statement.objects.filter(contract__placement__partner=p, status__in=("approved", "invoiced", "paid"))
            .order_by("pk")
            .first(),
            "period",
            None,
        ),
    )
    values["period"] = {slug: v[:7] for slug, v in values["period"].items()}
    # a partner's receivable in the ledger, where its statements were approved
    per_partner(
        "code",
        lambda p: (
            f"partner_receivable:{p.slug}"
            if Account.objects.filter(code=f"partner_receivable:{p.slug}").exists()
            else None
        ),
    )
    per_partner("currency", lambda p: p.currency)
    per_partner("endpoint_id", lambda p: _first(WebhookEndpoint.objects.filter(partner=p), "webhook endpoint").pk)
    per_partner(
        "delivery_id", lambda p: _first(WebhookDelivery.objects.filter(endpoint__partner=p), "webhook delivery").pk
    )

    markers = {slug: _markers(partner) for slug, partner in partners.items()}
    # A string two partners share identifies neither.
    for slug in markers:
        others = set().union(*(markers[o] for o in markers if o != slug))
        markers[slug] = {m for m in markers[slug] - others if len(m) >= 6}

    callers = []
    for username, scope in PEOPLE.items():
        client = Client()
        client.force_login(User.objects.get(username=username))
        callers.append(Caller(username, scope, client))
    callers.append(Caller(ANONYMOUS, set(), Client()))
    for slug, secret in secrets.items():
        callers.append(Caller(f"api key of {slug}", {slug}, Client(), {"Authorization": f"Bearer {secret}"}))
    return Scene(partners=partners, values=values, markers=markers, callers=callers)


def _markers(partner: Partner) -> set[str]:
    found = {partner.name, partner.slug}
    found |= set(Sale.objects.filter(partner=partner).values_list("external_id", flat=True))
    found |= {f"{k.prefix}" for k in PartnerApiKey.objects.filter(partner=partner)}
    found |= set(PartnerApiKey.objects.filter(partner=partner).values_list("name", flat=True))
    found |= set(SaleUpload.objects.filter(partner=partner).values_list("original_name", flat=True))
    conversations = Conversation.objects.filter(placement__partner=partner)
    found |= set(conversations.values_list("public_id", flat=True))
    found |= {
        text.strip()[:40]
        for text in Message.objects.filter(conversation__in=conversations).values_list("content", flat=True)
    }
    found |= set(KnowledgeDocument.objects.filter(placement__partner=partner).values_list("title", flat=True))
    found |= set(Widget.objects.filter(placement__partner=partner).values_list("publishable_key", flat=True))
    found |= {
        text.strip()[:40]
        for text in CopyDraft.objects.filter(placement__partner=partner).values_list("text", flat=True)
    }
    found |= set(Invitation.objects.filter(partner=partner).values_list("email", flat=True))
    endpoints = WebhookEndpoint.objects.filter(partner=partner)
    found |= set(endpoints.values_list("url", flat=True)) | set(endpoints.values_list("secret", flat=True))
    found |= set(OutboundEvent.objects.filter(partner=partner).values_list("public_id", flat=True))
    found |= set(Inquiry.objects.filter(partner=partner).values_list("comment", flat=True))
    found |= set(Inquiry.objects.filter(partner=partner).values_list("attachment_name", flat=True))
    return {m for m in found if m}


# --- the walk ----------------------------------------------------------------------------

# Parameters that name no partner's object: filled with a value everyone may use. The
# admin's own (object ids of any model, content types) are staff-only as a whole: the admin
# sends everyone else to its sign-in, whatever the object.
# An invitation link's token is its own credential, for whoever holds it (tests/contracts/test_partner_onboarding.py
# proves an issued one works once and an unknown one is refused): the walk asks with one never issued.
NEUTRAL = {"action", "slug", "token"}
# Parameters naming the platform's own objects (runs, payees), no partner's: finance's alone.
PLATFORM_OBJECTS = {"run_id", "payee_id"}


# Actions named by a plain slug in the path: a real one, so GET is 405 rather than 404.
ACTIONS = {"api-placement-action": "pause", "api-contract-version-action": "accept", "api-statement-action": "approve"}
# Reached in scope only with the widget's key and the visitor's token (shown once, when the
# visitor starts): tests/agents/test_api.py::test_a_wrong_token_or_another_widgets_conversation_is_not_found
# proves the owner's widget reaches it and another's does not.
REACHED_ELSEWHERE = {"api-widget-messages"}


def _neutral(route: Route, converter: str, name: str) -> str:
    from django.urls.converters import get_converters

    if route.name in ACTIONS and name == "action":
        return ACTIONS[route.name]
    if name == "slug":
        return "kai"  # a published employee: the catalog is public to every signed-in person
    if name == "token":
        return "never-issued-token"
    return get_converters()[converter].regex.split("|")[0]


def fill(route: Route, scene: Scene, owner: str) -> str | None:
    """The route with every object parameter naming `owner`'s object (None: it has none)."""
    values: list[str] = []
    for converter, name in route.params:
        if route.name.startswith("admin:"):
            value = "1"
        elif name in NEUTRAL:
            value = _neutral(route, converter, name)
        elif name in PLATFORM_OBJECTS:
            model = Payee if name == "payee_id" else PayoutRun if "payout" in route.name else SettlementRun
            obj = model.objects.order_by("pk").first()
            if obj is None:
                return None
            value = str(obj.pk)
        else:
            assert name in scene.values, f"{route.name}: no partner object for <{name}>: add it to the scene"
            value = scene.values[name].get(owner)
            if value is None:
                return None
        values.append(value)
    return route.filled_in_order(values)


def partner_params(route: Route) -> list[str]:
    if route.name.startswith("admin:"):
        return []  # staff only as a whole: test_the_admin_is_for_staff_only
    return [name for _c, name in route.params if name not in NEUTRAL and name not in PLATFORM_OBJECTS]


def refused(caller: Caller, path: str, response: Any) -> bool:
    """An answer that gives nothing away: not found, forbidden, not allowed, or sign in."""
    if response.status_code in (401, 403, 404, 405):
        return True
    if response.status_code == 302:
        # Nobody, a partner system's key on a web page (no session), anyone but staff at the
        # admin: sent to sign in.
        return response["Location"].startswith(("/login/", "/admin/login/"))
    return False


def leaks(caller: Caller, scene: Scene, body: str, path: str) -> list[str]:
    """Strings of partners outside the caller's scope in `body` — except those the caller
    wrote in the URL itself (an error may name the id it could not find)."""
    return sorted(
        marker
        for slug, found in scene.markers.items()
        if slug not in caller.scope
        for marker in found
        if marker in body and marker not in path
    )


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    content = response.content
    if content.startswith(b"%PDF"):
        return _pdf_text(content)
    return content.decode("utf-8", "replace")


def _pdf_text(content: bytes) -> str:
    """The PDF's bytes and its inflated content streams, where fpdf2 writes the text."""
    import zlib

    texts = [content.decode("latin-1")]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            texts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(texts)


# --- the matrix --------------------------------------------------------------------------


def test_every_route_with_an_object_is_refused_to_everyone_outside_its_partner(scene):
    # given every URL pattern that names a partner's object, filled with each partner's object
    routes = [r for r in every_route() if partner_params(r)]
    assert len(routes) > 40
    before = stored()
    checked, reached = 0, set()
    for route in routes:
        for owner in PARTNERS:
            path = fill(route, scene, owner)
            if path is None:
                continue
            for caller in scene.callers:
                # when someone outside that partner asks for it, by GET and by POST
                if owner in caller.scope:
                    continue
                for method in ("get", "post"):
                    response = caller.request(method, path)
                    # then it is refused, and shows nothing of it
                    assert refused(caller, path, response), (
                        f"{route.name} {method.upper()} {path} as {caller.name}: {response.status_code}"
                    )
                    assert not leaks(caller, scene, body_of(response), path), (route.name, caller.name)
                    checked += 1
            reached.add(route.name)
    # and nothing anyone stored changed
    assert stored() == before
    # and the matrix ran over every such route for at least one partner
    assert reached == {r.name for r in routes}, {r.name for r in routes} - reached
    assert checked > 1000


def test_every_route_with_an_object_reaches_it_for_someone_in_scope(scene):
    # given the same filled URLs (proof the refusals above are about scope, not bad ids)
    unreached = []
    for route in [r for r in every_route() if partner_params(r) and r.name not in REACHED_ELSEWHERE]:
        ok = False
        for owner in PARTNERS:
            path = fill(route, scene, owner)
            if path is None:
                continue
            for caller in scene.callers:
                if owner not in caller.scope:
                    continue
                status = caller.request("get", path).status_code
                # a page or a read answers 200; an action URL is POST-only (405 for GET)
                if status in (200, 405):
                    ok = True
                    break
            if ok:
                break
        if not ok:
            unreached.append(route.name)
    # then each one reaches a real object of a partner for at least one of its people
    assert unreached == [], unreached


QUERY_FILTERS = ("placement", "partner", "conversation", "contract", "statement", "upload", "invoice")


def filters_naming(scene: Scene, owner: str) -> str:
    """A query string whose every filter names one of `owner`'s objects."""
    pairs = [(name, scene.values[f"{name}_id"].get(owner, "")) for name in QUERY_FILTERS]
    pairs.append(("period", scene.values["period"].get(owner, "")))
    return "&".join(f"{name}={value}" for name, value in pairs)


def test_no_page_or_endpoint_shows_anything_of_a_partner_outside_the_callers_scope(scene):
    # given every URL a GET can reach — lists, dashboards, chart data, exports, transcripts,
    # PDFs — filled with every partner's objects, and again with filters naming them
    paths: set[str] = set()
    for route in every_route():
        if route.name.startswith("admin:"):
            continue  # staff only: test_the_admin_is_for_staff_only
        if route.name in {"api-schema", "api-docs"}:
            continue  # made from the code alone, the same for everyone (and slow to make)
        for owner in PARTNERS:
            path = fill(route, scene, owner)
            if path is None:
                continue
            paths.add(path)
            if not route.params:
                paths.add(f"{path}?{filters_naming(scene, owner)}")
    # when every person, nobody and every partner system asks for each
    shown = 0
    problems = []
    for caller in scene.callers:
        for path in sorted(paths):
            if caller.headers and not path.startswith("/api/"):
                continue  # a key on a web page is sent to sign in: the first test shows it
            response = caller.request("get", path)
            if response.status_code >= 500:
                problems.append(f"{path} as {caller.name}: {response.status_code}")
                continue
            if response.status_code == 200:
                shown += 1
            # then no answer carries a string that identifies a partner outside their scope
            found = leaks(caller, scene, body_of(response), path)
            if found:
                problems.append(f"{path} as {caller.name}: {found[:3]}")
    assert problems == []
    assert shown > 300


def test_the_platforms_own_objects_are_for_finance_only(scene):
    # given a settlement run, a payout run and a payee (the platform's, no partner's)
    from payments.services.payouts import payout_run_request

    payout_run_request(actor=User.objects.get(username="finance-ito"))
    routes = [r for r in every_route() if any(name in PLATFORM_OBJECTS for _c, name in r.params)]
    paths = {route.name: fill(route, scene, "hoshi-mart") for route in routes}
    assert None not in paths.values() and len(paths) >= 5
    before = stored()
    for caller in scene.callers:
        if caller.scope == set(PARTNERS):
            continue
        for name, path in paths.items():
            for method in ("get", "post"):
                # when a partner, an account manager, a partner system or nobody asks,
                response = caller.request(method, path)
                # then it is refused
                assert refused(caller, path, response), (
                    f"{name} {method} {path} as {caller.name}: {response.status_code}"
                )
    # and nothing changed; while finance reaches every one of them
    assert stored() == before
    finance = next(c for c in scene.callers if c.name == "finance-ito")
    assert {name: finance.request("get", path).status_code in (200, 405) for name, path in paths.items()} == {
        name: True for name in paths
    }


def test_the_admin_is_for_staff_only(scene):
    # given every URL of the Django admin (object ids filled with 1: any model's first row)
    paths = {route.name: fill(route, scene, "hoshi-mart") for route in every_route() if route.name.startswith("admin:")}
    assert len(paths) > 50
    before = stored()
    for caller in scene.callers:
        if caller.name == "admin":
            continue
        for name, path in paths.items():
            if name in {"admin:login", "admin:logout"}:
                continue  # the admin's sign-in and sign-out are for everyone
            for method in ("get", "post"):
                # when anyone but staff asks — finance included — then the admin's sign-in
                response = caller.request(method, path)
                assert refused(caller, path, response), (
                    f"{name} {method} {path} as {caller.name}: {response.status_code}"
                )
    assert stored() == before
