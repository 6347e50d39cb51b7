"""What every page shares: the layout's own error pages in every mode and the favicon.
(The layout itself — phone menu, overflow, contrast — is walked in tests/e2e/test_browser.py;
the catalog's cards are in tests/employees/test_catalog.py.)"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.web import browser, text

# --- error pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_page_is_the_styled_404_in_every_mode(world, settings, debug):
    # given DEBUG on (dev.py run) or off (production)
    settings.DEBUG = debug
    client = browser(world.hoshi_owner)
    # when a person asks for a page that does not exist, or an object they cannot see
    for path in ("/no-such-page/", reverse("resume", args=["nobody"])):
        response = client.get(path)
        # then the answer is the site's own page, in the layout, not Django's technical one
        assert response.status_code == 404
        body = text(response)
        assert "<h1>Not found</h1>" in body
        assert 'class="topbar"' in body and "Skip to content" in body
        assert "Django" not in body and "URLconf" not in body and "Traceback" not in body


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_api_url_keeps_the_error_shape_in_every_mode(world, settings, debug):
    settings.DEBUG = debug
    response = browser(world.hoshi_owner).get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No API endpoint at /api/v1/no-such-endpoint.", "fields": {}}
    }


@pytest.mark.parametrize("debug", [True, False])
def test_a_crash_is_the_styled_500_in_every_mode_and_is_logged(world, settings, debug, caplog):
    # given a view that raises, with DEBUG on or off
    settings.DEBUG = debug
    settings.ROOT_URLCONF = "tests.support.urls_crash"
    client = Client(raise_request_exception=False)
    client.force_login(world.hoshi_owner)
    # when it is asked for
    with caplog.at_level("ERROR", logger="django.request"):
        response = client.get("/crash/")
    # then the person sees the site's own page and the traceback goes to the log
    assert response.status_code == 500
    body = text(response)
    assert "<h1>Something went wrong</h1>" in body
    assert "RuntimeError" not in body and "Traceback" not in body
    assert any(record.exc_info and isinstance(record.exc_info[1], RuntimeError) for record in caplog.records)
    # and under /api/ the answer keeps the API's error shape
    api = client.get("/api/v1/crash")
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "server_error"


def test_with_debug_on_a_trailing_slash_is_still_added_before_the_404(world, settings):
    settings.DEBUG = True
    response = browser(world.hoshi_owner).get("/portal")
    assert response.status_code == 301
    assert response["Location"] == "/portal/"


@pytest.mark.django_db
def test_the_favicon_is_served_to_anyone():
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age=86400" in response["Cache-Control"]
    assert Client().post("/favicon.ico").status_code in (403, 405)
