"""Bad input at scale: schemathesis generates requests for every operation of the
project's own OpenAPI schema (drf-spectacular, fetched through `config.wsgi.application`),
valid and invalid ones (wrong types, missing and extra fields, odd strings, out-of-range
numbers, malformed bodies), and sends them through the WSGI app as three callers: a
partner's API key, a signed-in finance user and nobody. Whatever comes in, no answer is a
server error, and every 4xx is the one error shape of DESIGN.md §3:
`{"error": {"code": <non-empty str>, "message": <str>, "fields": <object>}}`.

How it is bounded and made deterministic: `derandomize=True` (the same examples every run,
so CI is reproducible), no example database, explicit and generate phases only (a
failure is reported as found, not shrunk), `FUZZ_EXAMPLES` examples per operation and caller.

How it meets the per-test transactional database: each (operation, caller) is one pytest
test with the function-scoped `world` and `fuzz_data` fixtures set up once, and all of
Hypothesis' examples run inside that one test — which is what
`HealthCheck.function_scoped_fixture` warns about, and exactly what we want here, so it is
suppressed. Each request runs in a savepoint that is always rolled back, so every example
sees the same data (a fuzzed revoke or approve cannot change what the next one finds) and
a database error in one request cannot poison the next. The WSGI handler's
`close_old_connections` (run on request start and finish) is disconnected meanwhile, as
Django's own test client does, since it would close the test's connection.
"""

from __future__ import annotations

import os
import secrets
import traceback
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from agents import services as agent_services
from config.wsgi import application
from contracts import services as contract_services
from tests.support.payments import connect_payees, october_statement, placement_with_coupons

# 12 keeps the file near a minute on 2 cores; HAKEN_FUZZ_EXAMPLES=200 digs deeper locally.
FUZZ_EXAMPLES = int(os.environ.get("HAKEN_FUZZ_EXAMPLES", "12"))

# The schema exactly as a client gets it: through the WSGI app, from the schema endpoint.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)

CALLERS = ["api_key", "finance", "anonymous"]


@dataclass
class Credentials:
    headers: dict[str, str]
    cookies: dict[str, str]


@pytest.fixture
def fuzz_data(world, settings):
    """A world with real data: an active placement with coupon touchpoints, attributed
    October sales settled into an approved statement, a widget, a conversation and a
    partner API key; a finance session with its CSRF token."""
    settings.STRIPE_API_KEY = ""  # manual provider: no Stripe server needed
    connect_payees(None)
    placement = placement_with_coupons(world)
    october_statement(world, placement)
    agent_services.widget_configure(
        actor=world.hoshi_owner, placement=placement, allowed_origins=["https://hoshi.example"]
    )
    issued = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="fuzz")
    browser = Client()
    browser.force_login(world.finance)
    csrf = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret for cookie and header
    yield {
        "api_key": Credentials(headers={"Authorization": f"Bearer {issued.secret}"}, cookies={}),
        "finance": Credentials(
            headers={"X-CSRFToken": csrf}, cookies={"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrf}
        ),
        "anonymous": Credentials(headers={}, cookies={}),
    }
    cache.clear()  # the rate limits' counters: leave none behind for the next test


@pytest.fixture
def in_process_connection():
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def raised():
    """The exceptions the app let escape (Django answers them 500), for the failure message."""
    seen: list[str] = []

    def record(sender: Any, request: Any = None, **kwargs: Any) -> None:
        seen.append(traceback.format_exc())

    signals.got_request_exception.connect(record)
    yield seen
    signals.got_request_exception.disconnect(record)


def assert_error_shape(response: Any) -> None:
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "fields"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str), body
    assert isinstance(error["fields"], dict), body


@pytest.mark.parametrize("caller", CALLERS)
@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_no_request_is_a_server_error_and_every_4xx_has_the_error_shape(
    case, caller, fuzz_data, in_process_connection, raised
):
    credentials = fuzz_data[caller]
    raised.clear()
    with transaction.atomic():
        response = case.call(headers=credentials.headers, cookies=credentials.cookies)
        transaction.set_rollback(True)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} as {caller} answered {response.status_code}\n"
        f"{case.as_curl_command()}\n{''.join(raised)}"
    )
    case.validate_response(response, checks=[not_a_server_error])
    if 400 <= response.status_code < 500:
        assert_error_shape(response)


def test_the_fuzzing_callers_reach_the_views(fuzz_data, in_process_connection):
    # given the three callers' credentials, through the same WSGI app and client the fuzzing uses
    from werkzeug import Client as WsgiClient

    def call(caller: str, method: str, path: str, body: Any = None) -> Any:
        client = WsgiClient(application)
        for name, value in fuzz_data[caller].cookies.items():
            client.set_cookie(name, value, domain="localhost")
        with transaction.atomic():
            response = client.open(path, method=method, json=body, headers=fuzz_data[caller].headers)
            transaction.set_rollback(True)
        return response

    # when each asks who it is, and finance starts a settlement run (a write: session + CSRF)
    # then the key is Hoshi Mart's system, the session is finance's, nobody is refused
    assert call("api_key", "GET", "/api/v1/me").json["partner"] == "hoshi-mart"
    assert call("finance", "GET", "/api/v1/me").json["role"] == "finance"
    assert call("finance", "POST", "/api/v1/settlement-runs", {"period": "2026-10"}).status_code == 202
    assert call("anonymous", "GET", "/api/v1/me").status_code == 401
