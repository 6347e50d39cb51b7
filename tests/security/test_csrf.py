"""CSRF on every form: a POST from a signed-in browser without a token is refused (403) by
every URL of the project and changes nothing — except the few exempt by design, listed here
with the reason.

The walk covers every pattern of get_resolver(), web pages and API alike: Django's
CsrfViewMiddleware refuses the web pages before their view runs, DRF's
SessionAuthentication refuses API calls made with the session (its views are csrf_exempt
for Bearer-key callers, who have no cookie to forge)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.urls.converters import get_converters

from contracts.models import PartnerApiKey, Placement
from tests.support.url_routes import every_route
from tests.support.web import stored
from tests.support.world import hire

# URL name → why no CSRF token is asked for.
EXEMPT = {
    "stripe-webhook": "Stripe calls it server to server; the Stripe-Signature header is verified instead",
    "api-widget-conversations": "the widget on partners' sites: no session or cookie (authentication_classes = []); "
    "publishable key + allowed origin (CORS) instead",
    "api-widget-messages": "as api-widget-conversations, plus the conversation's secret token",
    "api-widget-config": "as api-widget-conversations; a read only (GET), which the widget asks before it shows",
    "dev-webhook-receiver": "the run command's stand-in for a partner's system, called server to server by our "
    "own worker; the Haken-Signature header is verified instead, and it is a 404 unless DEBUG",
}
SAMPLE = {"int": "1", "slug": "x", "str": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000000"}


def every_url() -> list[tuple[str, str, object]]:
    """(name, a concrete path, the view) for every pattern of the project."""
    return [
        (route.name, route.filled(lambda converter, _name: sample(converter)), route.callback)
        for route in every_route()
    ]


def sample(converter: str) -> str:
    if converter in SAMPLE:
        return SAMPLE[converter]
    # The project's own converters are lists of choices ("withdraw|end"): take the first.
    return get_converters()[converter].regex.split("|")[0]


def post_everything(client: Client) -> dict[str, int]:
    refused = {}
    for name, path, _view in every_url():
        if name in EXEMPT:
            continue
        if path.startswith("/api/"):
            response = client.post(path, {"name": "x"}, content_type="application/json")
        else:
            response = client.post(path, {"name": "x", "reason": "x", "note": "x"})
        assert response.status_code == 403, f"{name} {path}: {response.status_code}"
        assert "CSRF" in response.content.decode(), f"{name} {path}: 403 for another reason"
        refused[name] = response.status_code
    return refused


def test_the_exemptions_are_exactly_the_listed_ones():
    # given every URL of the project, when we look for views that skip CSRF entirely
    # (csrf_exempt and no session authentication), then they are the listed ones
    names = {name for name, _path, _view in every_url()}
    assert set(EXEMPT) <= names
    exempt = set()
    for name, _path, view in every_url():
        view_class = getattr(view, "cls", None)
        if view_class is not None:  # DRF: CSRF comes from SessionAuthentication
            classes = (
                [type(c).__name__ for c in view_class().get_authenticators()]
                if hasattr(view_class, "get_authenticators")
                else []
            )
            if "SessionAuthentication" not in classes:
                exempt.add(name)
        elif getattr(view, "csrf_exempt", False):
            exempt.add(name)
    assert exempt == set(EXEMPT)


def test_every_post_without_a_token_is_refused_for_a_partner_owner(world):
    # given a partner owner, signed in, with an active placement and an API key
    placement = hire(world, until="active")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.hoshi_owner)
    before = stored()
    # when every URL is posted to without a CSRF token
    refused = post_everything(client)
    # then each answered 403 (over a hundred of them) and nothing stored changed
    assert len(refused) > 100
    assert stored() == before
    assert Placement.objects.get(pk=placement.pk).status == placement.status
    # and the owner is still signed in (logout refused too)
    assert client.session[SESSION_KEY] == str(world.hoshi_owner.pk)


def test_every_post_without_a_token_is_refused_for_staff(world):
    # given the platform's staff superuser, who may act on every console page and the admin
    hire(world, until="proposed")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff)
    before = stored()
    refused = post_everything(client)
    assert len(refused) > 100
    assert stored() == before
    assert client.session[SESSION_KEY] == str(world.staff.pk)


def test_the_same_form_with_its_token_acts(world):
    # given a partner owner on the API-keys page (proof that the refusals above are CSRF's:
    # the same post, with the token from the page, creates the key)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.hoshi_owner)
    page = client.get(reverse("portal-api-keys"))
    token = page.cookies["csrftoken"].value
    # when it posts without the token, then 403 and no key
    refused = client.post(reverse("portal-api-keys"), {"name": "Till system"})
    assert refused.status_code == 403
    assert PartnerApiKey.objects.count() == 0
    # when it posts with the token, then the key exists
    accepted = client.post(reverse("portal-api-keys"), {"name": "Till system", "csrfmiddlewaretoken": token})
    assert accepted.status_code == 201
    assert list(PartnerApiKey.objects.values_list("name", flat=True)) == ["Till system"]


@pytest.mark.django_db
def test_signing_in_without_a_token_is_refused():
    # given an anonymous visitor; when the login form is posted without a token
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    # then 403, and no failure was even counted
    assert response.status_code == 403
    assert apps.get_model("core", "LoginThrottle").objects.count() == 0
