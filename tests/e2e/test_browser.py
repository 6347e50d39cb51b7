"""The portal and the consoles in a real browser: every role's journey at a desktop width
(1,366 px) and a phone's (390 px), over the demo data, served by a live server on the test
database with a real Celery worker behind it.

On every page visited: no horizontal overflow (the page is never wider than the window), no
serious or critical axe-core violation (WCAG 2.2 A/AA and best practices), and nothing the
Content-Security-Policy refused (an inline style or script a library slipped in). The chat
widget is walked on a third-party page: another origin, with a strict policy of its own.

The browser is Debian's Chromium (`/usr/bin/chromium`, or HAKEN_CHROMIUM), driven by
Playwright; `python3 dev.py test` installs the package when it is missing and it runs as
root. Without a browser these tests are skipped, saying why. axe-core is vendored next to
this file (tests/e2e/browser_assets, MPL-2.0) and injected into each page from there."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from contracts.selectors import next_period_start, partner_today

CHROMIUM = Path(os.environ.get("HAKEN_CHROMIUM", "/usr/bin/chromium"))
# Headless, no sandbox (root in a container), and nothing that reaches for the network.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "browser_assets" / "axe.min.js"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"1366": DESKTOP, "390": PHONE}
PASSWORD = "demo-pass-2026"


_AXE_SOURCE: list[str] = []


def _axe_source() -> str:
    if not _AXE_SOURCE:
        _AXE_SOURCE.append(AXE.read_text() + "\n;typeof window.axe")
    return _AXE_SOURCE[0]


def _why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements/dev.txt pins it)"
    if not CHROMIUM.exists():
        return (
            f"no Chromium at {CHROMIUM}: `python3 dev.py test` installs Debian's `chromium` "
            "when run as root; otherwise install it or set HAKEN_CHROMIUM"
        )
    return None


_REASON = _why_no_browser()
# django_db: the tests read the database between browser steps (inside a transaction that
# writes nothing); the demo data they browse is committed once per module by `site`.
pytestmark = [pytest.mark.skipif(_REASON is not None, reason=_REASON or ""), pytest.mark.django_db]


# --- the site: demo data, a live server, a worker, and a partner's own shop page ------------------


@dataclass
class Site:
    url: str
    shop_url: str
    pages: dict[str, list[str]]
    ids: dict[str, Any] = field(default_factory=dict)


class _ShopHandler(http.server.BaseHTTPRequestHandler):
    """A partner's web shop on another origin, embedding the widget as the README says."""

    body = b""
    policy = ""

    def do_GET(self) -> None:
        if self.path not in ("/", "/index.html"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", self.policy)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def _start_worker(tmp: Path) -> subprocess.Popen[bytes]:
    from django.conf import settings

    from tests.support.workers import database_url_for_worker

    env = dict(os.environ, DATABASE_URL=database_url_for_worker())
    log_path = tmp / "worker.log"
    celery = Path(sys.executable).parent / "celery"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(celery),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "solo",
                "--purge",
                "--hostname",
                f"browser-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    assert settings.CELERY_BROKER_URL, "CELERY_BROKER_URL is not set: run with `python3 dev.py test`"
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return process


def _pages(ids: dict[str, Any]) -> dict[str, list[str]]:
    from django.urls import reverse

    rinna = ids["rinna_placement"]
    return {
        "hoshi-owner": [
            reverse("portal"),
            reverse("catalog"),
            reverse("resume", args=["rinna"]),
            reverse("portal-placement", args=[rinna]),
            reverse("portal-agents"),
            reverse("portal-chat", args=[rinna]),
            reverse("portal-knowledge", args=[rinna]),
            reverse("portal-widget", args=[rinna]),
            reverse("placement-economics", args=[rinna]),
            reverse("portal-conversation", args=[ids["conversation"]]),
            reverse("portal-revenue"),
            reverse("portal-statement", args=[ids["hoshi_statement"]]),
            reverse("portal-invoices"),
            reverse("portal-sales"),
            reverse("portal-uploads"),
            reverse("portal-api-keys"),
            reverse("notifications"),
        ],
        "hoshi-clerk": [
            reverse("portal"),
            reverse("catalog"),
            reverse("resume", args=["kai"]),
            reverse("portal-agents"),
            reverse("portal-revenue"),
            reverse("portal-sales"),
            reverse("portal-invoices"),
            reverse("notifications"),
        ],
        "am-sato": [
            reverse("console"),
            reverse("console-placement", args=[ids["kai_placement"]]),
            reverse("console-placement", args=[rinna]),
            reverse("console-simulate", args=[rinna]),
            reverse("catalog"),
            reverse("console-conversations"),
            reverse("console-conversation", args=[ids["conversation"]]),
            reverse("employee-economics", args=["rinna"]),
            reverse("console-audit"),
            reverse("notifications"),
        ],
        "finance-ito": [
            reverse("console"),
            reverse("console-settlement"),
            reverse("console-statement", args=[ids["hoshi_statement"]]),
            reverse("console-ledger"),
            reverse("console-trends"),
            reverse("console-trends") + "?currency=USD&months=24",
            reverse("console-invoices"),
            reverse("console-payouts"),
            reverse("console-payees"),
            reverse("console-reconciliation"),
            reverse("console-audit"),
        ],
        "admin": [
            reverse("console"),
            reverse("console-settlement"),
            reverse("console-conversations"),
            reverse("console-audit"),
            reverse("catalog"),
            reverse("notifications"),
        ],
    }


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Site]:
    from django.contrib.auth import get_user_model
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.management import call_command
    from django.test.testcases import LiveServerThread
    from django.test.utils import override_settings

    overrides = override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    )
    overrides.enable()
    # Playwright's sync API keeps an event loop in this thread; the ORM calls below are
    # plain synchronous ones between browser steps.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    worker = None
    server = None
    shop = None
    try:
        with django_db_blocker.unblock():
            for command in ("seed_demo", "seed_demo_revenue", "seed_demo_payments", "seed_demo_agents"):
                call_command(command, stdout=StringIO())
            # The demo shows Hoshi Mart's portal in Japanese; these journeys find buttons by their
            # English names (tests/e2e/test_web_i18n.py covers the Japanese pages).
            get_user_model().objects.filter(username__startswith="hoshi-").update(language="")
            server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
            server.daemon = True
            server.start()
            server.is_ready.wait()
            if server.error:
                raise server.error
            url = f"http://127.0.0.1:{server.port}"

            shop = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShopHandler)
            shop_url = f"http://localhost:{shop.server_address[1]}"
            ids = _demo_ids(shop_url)
            _ShopHandler.body = _shop_page(url, ids["widget_key"]).encode()
            # The shop's own strict policy: scripts and API calls only from Haken, no inline
            # styles at all (the widget styles itself through a constructed stylesheet).
            _ShopHandler.policy = (
                f"default-src 'none'; script-src {url}; connect-src {url}; style-src 'self'; img-src 'self' data:"
            )
            threading.Thread(target=shop.serve_forever, daemon=True).start()
            worker = _start_worker(tmp_path_factory.mktemp("browser"))
            yield Site(url=url, shop_url=shop_url, pages=_pages(ids), ids=ids)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        if shop is not None:
            shop.shutdown()
        if server is not None:
            server.terminate()
            server.join()
        with django_db_blocker.unblock():
            from django.db import connection

            # The server's request threads may still hold a browser's keep-alive socket, and
            # with it a database session: end them, so the flush and the test database's
            # teardown are not kept waiting.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            # The demo data was committed for the server's threads: leave the database as
            # empty as every other test expects it.
            call_command("flush", interactive=False, verbosity=0)
        overrides.disable()
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _demo_ids(shop_origin: str) -> dict[str, Any]:
    from agents import services as agent_services
    from agents.models import Conversation, Widget
    from contracts.models import Placement
    from core.models import User
    from revenue.models import Statement

    rinna = Placement.objects.get(partner__slug="hoshi-mart", employee__slug="rinna")
    kai = Placement.objects.get(partner__slug="hoshi-mart", employee__slug="kai")
    widget = Widget.objects.get(placement=rinna)
    widget = agent_services.widget_configure(
        actor=User.objects.get(username="hoshi-owner"),
        placement=rinna,
        allowed_origins=[*widget.allowed_origins, shop_origin],
    )
    return {
        "rinna_placement": rinna.pk,
        "kai_placement": kai.pk,
        "conversation": Conversation.objects.filter(placement=rinna).order_by("pk").first().pk,
        "hoshi_statement": Statement.objects.filter(contract__placement=rinna).order_by("-period").first().pk,
        "widget_key": widget.publishable_key,
    }


def _shop_page(haken: str, key: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hoshi Mart online</title></head>
<body><main><h1>Hoshi Mart online</h1><p>Hot snacks, bento and drinks, delivered.</p></main>
<script src="{haken}/static/agents/widget.js" data-haken-key="{key}" async></script>
</body></html>"""


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield chromium
        chromium.close()


class Visit:
    """One person's browser tab, checking every page it lands on."""

    def __init__(self, browser: Any, site: Site, viewport: dict[str, int]) -> None:
        self.site = site
        self.viewport = viewport
        self.context = browser.new_context(viewport=viewport, base_url=site.url)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.refused: list[str] = []
        self.page.on("console", self._console)
        self.checked: list[str] = []

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.refused.append(f"{self.page.url}: {message.text}")

    def close(self) -> None:
        self.context.close()

    def login(self, username: str) -> None:
        self.goto("/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()
        assert "/login/" not in self.page.url, f"{username} could not sign in"
        self.check()

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        self.check()

    def check(self) -> None:
        """No horizontal overflow, no serious axe violation, nothing refused by the policy."""
        page = self.page
        page.wait_for_load_state("load")
        where = f"{page.url} at {self.viewport['width']} px"
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            wide = page.evaluate("""() => {
                const limit = window.innerWidth;
                return [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > limit + 1)
                  .filter(e => !e.parentElement.closest('.table-scroll, pre, .code-sample, .transcript'))
                  .slice(0, 5)
                  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
            }""")
            pytest.fail(f"{where}: the page is {widths[0]} px wide in a {widths[1]} px window; widest: {wide}")
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Not add_script_tag: that adds an inline <script>, which the site's own policy
            # (script-src 'self') refuses, and bypassing the policy would hide what it catches.
            # An evaluation from the test's side is not page content, so the policy allows it.
            page.evaluate(_axe_source())
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' — '
                                 + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}));
        }""")
        assert result == [], f"{where}: axe found\n{json.dumps(result, indent=1, ensure_ascii=False)}"
        assert self.refused == [], f"refused by the Content-Security-Policy: {self.refused}"
        self.checked.append(page.url)

    def use_menu(self, link: str) -> None:
        """Follow a main-menu link the way a person on this screen would."""
        page = self.page
        toggle = page.get_by_role("button", name="Menu")
        if self.viewport["width"] < 1024:
            # folded on a phone: the links are out of sight until the menu is opened
            assert toggle.is_visible()
            assert not page.get_by_role("navigation", name="Main").is_visible()
            toggle.click()
            assert toggle.get_attribute("aria-expanded") == "true"
        else:
            assert not toggle.is_visible()
        page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
        page.wait_for_load_state()
        self.check()


@pytest.fixture
def visit(browser, site, request) -> Iterator[Any]:
    opened: list[Visit] = []

    def open_(viewport: dict[str, int]) -> Visit:
        tab = Visit(browser, site, viewport)
        opened.append(tab)
        return tab

    yield open_
    for tab in opened:
        tab.close()


# --- the journeys -----------------------------------------------------------------------------------

MENU_LINK = {
    "hoshi-owner": "Revenue",
    "hoshi-clerk": "Sales",
    "am-sato": "Conversations",
    "finance-ito": "Ledger",
    "admin": "Audit log",
}


@pytest.mark.parametrize("width", ["1366", "390"])
@pytest.mark.parametrize("username", ["hoshi-owner", "hoshi-clerk", "am-sato", "finance-ito", "admin"])
def test_every_role_walks_its_pages_without_overflow_or_serious_accessibility_faults(site, visit, username, width):
    # given a person of each role, signed in through the login form on this screen
    tab = visit(VIEWPORTS[width])
    tab.login(username)
    # when they follow the main menu and then open each page of their work
    tab.use_menu(MENU_LINK[username])
    for path in site.pages[username]:
        tab.goto(path)
    # then every page fitted the window and passed axe (each check() asserted it)
    assert len(tab.checked) == len(site.pages[username]) + 3  # + sign-in, landing page, menu


def test_the_readme_first_journey_works_on_the_demo_data(site, visit):
    from contracts.models import Placement

    owner = visit(DESKTOP)
    owner.login("hoshi-owner")
    # given the catalog: Kai is already requested at Hoshi Mart, so it is not offered again
    owner.use_menu("Catalog")
    kai_card = owner.page.get_by_role("link", name=re.compile(r"^Kai\b"))
    assert "Requested here" in kai_card.inner_text()
    kai_card.click()
    owner.check()
    assert owner.page.get_by_role("button", name="Hire Kai").count() == 0
    assert owner.page.get_by_text("Requested", exact=True).first.is_visible()
    # when hoshi-owner hires Mei
    owner.goto("/employees/mei/")
    owner.page.get_by_label(re.compile("Note for your account manager")).fill("Copy for the winter campaign.")
    owner.page.get_by_role("button", name="Hire Mei").click()
    owner.page.wait_for_load_state()
    owner.check()
    mei = Placement.objects.get(partner__slug="hoshi-mart", employee__slug="mei")
    assert mei.status == Placement.Status.REQUESTED

    # then am-sato sees the request in the Console, approves it, drafts terms and sends them
    manager = visit(DESKTOP)
    manager.login("am-sato")
    manager.page.get_by_role("link", name=re.compile("Mei")).first.click()
    manager.page.wait_for_load_state()
    manager.check()
    manager.page.get_by_role("button", name="Approve").click()
    manager.page.wait_for_load_state()
    manager.check()
    manager.page.get_by_role("button", name=re.compile("^Save as draft$")).click()
    manager.page.wait_for_load_state()
    manager.check()
    manager.page.get_by_role("button", name="Send to partner").click()
    manager.page.wait_for_load_state()
    manager.check()

    # and hoshi-owner accepts under My placements: the placement is approved, and active from
    # the period its terms start (the builder's default: the next period start)
    owner.use_menu("My placements")
    owner.page.get_by_role("link", name=re.compile("Mei")).first.click()
    owner.page.wait_for_load_state()
    owner.check()
    owner.page.get_by_role("button", name="Accept version 1").click()
    owner.page.wait_for_load_state()
    owner.check()
    mei.refresh_from_db()
    [accepted] = mei.contract.versions.filter(status="accepted")
    assert (mei.status, accepted.number, accepted.effective_from) == (
        Placement.Status.APPROVED,
        1,
        next_period_start(partner_today(partner=mei.partner)),
    )


@pytest.mark.parametrize("width", ["1366", "390"])
def test_the_chat_widget_works_on_a_third_party_page(site, visit, width):
    # given Hoshi Mart's own shop page, on another origin, embedding the widget
    tab = visit(VIEWPORTS[width])
    page = tab.page
    response = page.goto(site.shop_url)
    assert response is not None and response.status == 200
    # when a shopper opens the chat and asks something
    opener = page.get_by_role("button", name=re.compile("chat", re.IGNORECASE))
    opener.click()
    dialog = page.get_by_role("dialog")
    assert dialog.is_visible()
    tab.check()
    dialog.get_by_role("textbox").fill("Something hot for lunch?")
    dialog.get_by_role("textbox").press("Enter")
    # then the employee answers in the panel
    page.wait_for_function(
        """() => {
        const text = document.querySelector('[role=dialog]').innerText;
        const asked = text.lastIndexOf('Something hot for lunch?');
        return asked >= 0 && text.slice(asked + 24).replace(/Send|×/g, '').trim().length > 20;
    }""",
        timeout=30_000,
    )
    assert "Something hot for lunch?" in dialog.inner_text()
    tab.check()


def test_a_chart_is_drawn_from_its_table_and_read_by_keyboard(site, visit):
    # given the partner's revenue page, drawn by the vendored Chart.js from the figures table
    tab = visit(DESKTOP)
    tab.login("hoshi-owner")
    tab.goto("/portal/revenue/")
    figure = tab.page.locator("figure.chart").first
    assert "chart-ready" in figure.get_attribute("class")
    canvas = figure.locator("canvas")
    assert canvas.bounding_box()["height"] > 100
    # (text_content: the table sits in a closed <details>, which innerText does not read)
    first_month = figure.locator("tbody th").first.text_content().strip()
    # when a keyboard user focuses it and presses Home, then the right arrow
    canvas.focus()
    tab.page.keyboard.press("Home")
    readout = figure.locator(".chart-readout")
    # then the live readout names the month and its figures, as the table has them
    assert readout.inner_text().startswith(first_month + ": ")
    first_cell = figure.locator("tbody tr").first.locator("td").first.text_content().strip()
    assert first_cell in readout.inner_text()
    months = [th.strip() for th in figure.locator("tbody th").all_text_contents()]
    tab.page.keyboard.press("ArrowRight")
    # (the next month, or the last one still when the chart has a single month)
    assert readout.inner_text().startswith(months[min(1, len(months) - 1)] + ": ")
    tab.page.keyboard.press("End")
    assert readout.inner_text().startswith(months[-1] + ": ")
    tab.check()
