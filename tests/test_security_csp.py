"""Every page carries the Content-Security-Policy, still renders, and needs nothing the
policy forbids: no inline scripts, no inline event handlers, no hx-on (htmx would eval it)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import hire
from tests.test_web_support import browser

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"""<[^>]+\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.IGNORECASE)


def assert_strict_page(response) -> None:
    assert response["Content-Security-Policy"] == POLICY
    html = response.content.decode()
    for attributes in SCRIPT_TAG.findall(html):
        # every script is a file from this site, or inert JSON data
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
    assert INLINE_HANDLER.findall(html) == []
    assert "javascript:" not in html


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
    for url in [reverse("portal"), reverse("catalog"), reverse("portal-agents"),
                reverse("portal-chat", args=[placement.pk]), reverse("portal-widget", args=[placement.pk]),
                reverse("portal-api-keys"), reverse("portal-revenue"), reverse("portal-sales"),
                reverse("notifications")]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_page(response)


def test_console_pages_carry_the_policy_and_render(world):
    hire(world, until="active")
    for user in (world.hoshi_manager, world.finance):
        client = browser(user)
        for url in [reverse("console"), reverse("catalog"), reverse("console-audit"),
                    reverse("console-conversations")]:
            response = client.get(url)
            assert response.status_code == 200, url
            assert_strict_page(response)
    client = browser(world.finance)
    for url in [reverse("console-settlement"), reverse("console-ledger"), reverse("console-invoices"),
                reverse("console-payouts"), reverse("console-payees"), reverse("console-reconciliation")]:
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
