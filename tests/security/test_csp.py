"""Every page carries the Content-Security-Policy, still renders, and needs nothing the
policy forbids: no inline scripts, no inline event handlers, no hx-on (htmx would eval it),
no style attributes and no <style> elements (style-src 'self', without 'unsafe-inline').

Besides the listed pages, one test walks every URL pattern (as tests/security/test_csrf.py does)
over the demo data, as a partner owner, an account manager, finance and staff, and checks
every HTML answer to a GET — full pages and their htmx fragments alike."""

from __future__ import annotations

import itertools
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.support.url_routes import every_route
from tests.support.web import browser
from tests.support.world import hire

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"""<[^>]+\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.IGNORECASE)
# A style attribute on any element (HTML or inline SVG), and any <style> element.
STYLE_ATTRIBUTE = re.compile(r"""<[^>]+\sstyle\s*=""", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.IGNORECASE)


def assert_strict_page(response) -> None:
    assert response["Content-Security-Policy"] == POLICY
    html = response.content.decode()
    for attributes in SCRIPT_TAG.findall(html):
        # every script is a file from this site, or inert JSON data
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
    assert INLINE_HANDLER.findall(html) == []
    assert "javascript:" not in html
    assert_no_inline_style(html)


def assert_no_inline_style(html: str, where: str = "") -> None:
    assert STYLE_ATTRIBUTE.findall(html) == [], where
    assert STYLE_ELEMENT.findall(html) == [], where


def test_the_policy_is_the_default_one():
    assert settings.CONTENT_SECURITY_POLICY == POLICY


@pytest.mark.django_db
def test_the_login_page_carries_the_policy():
    response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert_strict_page(response)


def test_partner_pages_carry_the_policy_and_render(world):
    placement = hire(world, until="active")
    client = browser(world.hoshi_owner)
    for url in [
        reverse("portal"),
        reverse("catalog"),
        reverse("portal-agents"),
        reverse("portal-chat", args=[placement.pk]),
        reverse("portal-widget", args=[placement.pk]),
        reverse("portal-api-keys"),
        reverse("portal-webhooks"),
        reverse("portal-revenue"),
        reverse("portal-sales"),
        reverse("notifications"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_page(response)


def test_console_pages_carry_the_policy_and_render(world):
    hire(world, until="active")
    for user in (world.hoshi_manager, world.finance):
        client = browser(user)
        for url in [reverse("console"), reverse("catalog"), reverse("console-audit"), reverse("console-conversations")]:
            response = client.get(url)
            assert response.status_code == 200, url
            assert_strict_page(response)
    client = browser(world.finance)
    for url in [
        reverse("console-settlement"),
        reverse("console-ledger"),
        reverse("console-invoices"),
        reverse("console-payouts"),
        reverse("console-payees"),
        reverse("console-reconciliation"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_page(response)


def test_the_api_docs_load_their_start_up_script_from_a_url(world):
    client = browser(world.hoshi_owner)
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    assert_strict_page(response)
    html = response.content.decode()
    assert '<script src="/api/v1/docs/?script="></script>' in html
    script = client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_admin_and_json_answers_carry_it_too(world):
    admin = browser(world.staff)
    response = admin.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY
    api = browser(world.hoshi_owner).get(reverse("api-me"))
    assert api.status_code == 200
    assert api["Content-Security-Policy"] == POLICY


@pytest.mark.django_db
def test_an_empty_policy_setting_sends_no_header(settings):
    settings.CONTENT_SECURITY_POLICY = ""
    response = Client().get(reverse("login"))
    assert "Content-Security-Policy" not in response.headers


# --- every GET page, over the demo data -----------------------------------------------------


# The project's URL parameters → the demo objects to fill them with (every one of them: the
# pages a person may not see answer 404, which is rendered HTML too).
def _parameter_values() -> dict[str, list[str]]:
    from agents.models import Conversation, CopyDraft, KnowledgeDocument, Message
    from contracts.models import Partner, PartnerApiKey, Payee, Placement
    from employees.models import DigitalEmployee
    from ledger.models import Account
    from payments.models import Invoice, PayoutRun
    from revenue.models import SaleUpload, SettlementRun, Statement

    # Three of each kind: the pages render one template per kind of object, whatever its id.
    def pks(model, limit: int | None = 3) -> list[str]:
        return [str(pk) for pk in model.objects.order_by("pk").values_list("pk", flat=True)[:limit]]

    return {
        "slug": list(DigitalEmployee.objects.order_by("slug").values_list("slug", flat=True)),
        "placement_id": pks(Placement, None),  # every state renders its own panels
        "number": ["1", "2"],
        "partner_id": pks(Partner),
        "payee_id": pks(Payee),
        "invoice_id": pks(Invoice),
        "document_id": pks(KnowledgeDocument),
        "statement_id": pks(Statement),
        "run_id": sorted(set(pks(SettlementRun) + pks(PayoutRun))),
        "key_id": pks(PartnerApiKey),
        "upload_id": pks(SaleUpload),
        "conversation_id": pks(Conversation),
        "message_id": pks(Message),
        "draft_id": pks(CopyDraft),
        "period": sorted({period.strftime("%Y-%m") for period in Statement.objects.values_list("period", flat=True)}),
        # a statement of account per ledger account the demo posted to
        "code": sorted(set(Account.objects.values_list("code", flat=True))),
        "currency": sorted(set(Account.objects.values_list("currency", flat=True))),
        # the webhooks' actions are POST-only: any id shows the 405 (or 404) page
        "endpoint_id": ["1"],
        "delivery_id": ["1"],
        # inquiries render inside the statement pages; their own URLs are actions and downloads
        "inquiry_id": ["1"],
    }


def _invitation_values() -> dict[str, list[str]]:
    """An invitation to Hoshi Mart, sent as an account manager sends it: its id, and its link's
    token read from the e-mail (the accept form), beside a token never issued (the refusal)."""
    import re

    from django.core import mail

    from contracts.models import Partner
    from contracts.services import invitation_send

    hoshi = Partner.objects.get(slug="hoshi-mart")
    invitation = invitation_send(
        actor=hoshi.account_manager, partner=hoshi, email="new-colleague@hoshi.example", site_url="http://testserver/"
    )
    [token] = re.findall(r"/invitations/([A-Za-z0-9_-]+)/", mail.outbox[-1].body)
    return {"invitation_id": [str(invitation.pk)], "token": [token, "never-issued-token"]}


def every_get_path(values: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(URL name, path) for every web page of the project with its parameters filled in.
    The API answers JSON (its docs page aside); the admin's object pages take ids of every
    model (its index, lists and add forms are walked)."""
    from django.urls.converters import get_converters

    found: list[tuple[str, str]] = []
    for route in every_route():
        if route.route.startswith("/api/") and route.name != "api-docs":
            continue
        if route.route.startswith("/admin/") and route.params:
            continue
        choices = []
        for converter, parameter in route.params:
            if converter in get_converters() and "|" in get_converters()[converter].regex:
                # the project's own converters list their choices ("withdraw|end"): one will do
                choices.append([get_converters()[converter].regex.split("|")[0]])
            else:
                assert parameter in values, f"{route.name}: no demo values for <{parameter}>"
                choices.append(values[parameter])
        for filling in itertools.product(*choices):
            found.append((route.name, route.filled_in_order(filling)))
    return found


@pytest.mark.django_db
def test_every_page_of_every_role_renders_without_inline_styles():
    # given the demo data (every placement state, statements, runs, invoices, payouts,
    # conversations, drafts) and its people
    from io import StringIO

    from django.core.management import call_command

    from core.models import User

    for command in ("seed_demo", "seed_demo_revenue", "seed_demo_payments", "seed_demo_agents"):
        call_command(command, stdout=StringIO())
    values = _parameter_values()
    values.update(_invitation_values())
    paths = every_get_path(values)
    assert len(paths) > 80
    pages = 0
    for username in ("hoshi-owner", "am-sato", "finance-ito", "admin"):
        client = browser(User.objects.get(username=username))
        for name, path in paths:
            # when each is fetched as a page, and as htmx asks for it
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(path, headers=headers)
                # then whatever HTML comes back has no style attribute and no <style> element
                if response.get("Content-Type", "").startswith("text/html"):
                    assert response.status_code < 500, (username, name, path)
                    assert response["Content-Security-Policy"] == POLICY
                    assert_no_inline_style(response.content.decode(), f"{username} {name} {path} {headers}")
                    pages += response.status_code == 200
    assert pages > 200
