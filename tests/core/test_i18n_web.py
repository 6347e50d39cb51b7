"""The portal in Japanese: a partner member's stored language choice, the browser's
Accept-Language on anonymous pages, the language menu that stores the choice, and dates in
the partner's time zone written the Japanese way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from core.models import AuditLog
from payments.services.invoicing import invoice_create, invoice_issue
from revenue.models import Statement
from tests.support.payments import connect_payees, october_statement, placement_with_coupons
from tests.support.snapshot import db_snapshot


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def approved(world, settings):
    settings.STRIPE_API_KEY = ""
    connect_payees(None)
    statement = october_statement(world, placement_with_coupons(world))
    # Approved late on 30 November in UTC: already 1 December in Tokyo, Hoshi Mart's zone.
    Statement.objects.filter(pk=statement.pk).update(approved_at=datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    return statement


def test_a_member_who_chose_japanese_reads_the_portal_in_japanese_with_dates_in_the_partners_zone(world, approved):
    # Given Hoshi Mart's owner, whose stored choice is Japanese
    world.hoshi_owner.language = "ja"
    world.hoshi_owner.save(update_fields=["language"])
    owner = login(world.hoshi_owner)

    # When they open the revenue dashboard, a statement and the invoices
    dashboard = owner.get("/portal/revenue/")
    statement = owner.get(f"/portal/statements/{approved.pk}/")
    invoices = owner.get("/portal/invoices/")

    # Then each page is in Japanese, says so, and dates read the Japanese way in Tokyo time
    for page in (dashboard, statement, invoices):
        assert page.status_code == 200
        assert page["Content-Language"] == "ja"
        body = page.content.decode()
        assert '<html lang="ja"' in body
        assert "売上・報酬" in body and "請求書" in body and "ログアウト" in body
        assert "Log out" not in body
    dashboard_body = dashboard.content.decode()
    assert "<h2>明細書</h2>" in dashboard_body
    assert "デジタル社員が貢献した売上と、その報酬です。" in dashboard_body
    statement_body = statement.content.decode()
    assert f"契約バージョン {approved.version_number} で算定" in statement_body
    assert '<span class="badge badge-open">未払い</span>' in statement_body
    assert "2026年12月1日 に承認" in statement_body  # 16:30 UTC on 30 Nov is 1 Dec in Tokyo
    assert "2026年10月" in statement_body
    invoices_body = invoices.content.decode()
    assert "<h1>請求書</h1>" in invoices_body
    assert "デジタル社員の報酬としてお支払いいただく金額と、お支払い済みの金額です。" in invoices_body
    assert "JPY 300,000" in invoices_body  # money keeps its code and no decimals for JPY


def test_without_a_choice_the_same_member_reads_english_dates_in_the_partners_zone(world, approved):
    # Given Hoshi Mart's owner with no stored choice and an English browser
    owner = login(world.hoshi_owner)
    # When they open the statement
    page = owner.get(f"/portal/statements/{approved.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    # Then it is English, the date ISO as before, still in Tokyo time
    body = page.content.decode()
    assert page["Content-Language"] == "en"
    assert f"rated on contract version {approved.version_number}" in body and "approved 2026-12-01" in body


def test_the_sign_in_page_follows_the_browsers_accept_language(db):
    # Given an anonymous visitor whose browser prefers Japanese
    japanese = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="ja,en;q=0.5")
    # When the same page is asked for in English
    english = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    # Then each gets its language
    assert japanese["Content-Language"] == "ja"
    assert "Hakenにログイン" in japanese.content.decode()
    assert "ユーザー名" in japanese.content.decode()
    assert english["Content-Language"] == "en"
    assert "Sign in to Haken" in english.content.decode()


def test_the_language_menu_stores_the_choice_audits_it_and_it_follows_the_person(world):
    # Given Hoshi Mart's member, reading in English
    member = login(world.hoshi_member)
    assert "My placements" in member.get("/portal/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # When they choose Japanese in the menu
    response = member.post("/language/", {"language": "ja", "next": "/portal/"})

    # Then they are sent back, the choice is stored on them and audited
    assert (response.status_code, response["Location"]) == (302, "/portal/")
    world.hoshi_member.refresh_from_db()
    assert world.hoshi_member.language == "ja"
    entry = AuditLog.objects.get(action="user.language_set")
    assert (entry.actor, entry.changes) == (world.hoshi_member, {"language": ["", "ja"]})
    # and it persists on another browser that asks for English (no cookie there)
    elsewhere = login(world.hoshi_member)
    page = elsewhere.get("/portal/", HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>配属一覧</h1>" in page.content.decode()
    assert '<option value="ja" lang="ja" selected>日本語</option>' in page.content.decode()

    # When they go back to English, the page is English again
    member.post("/language/", {"language": "en", "next": "/portal/"})
    assert "<h1>My placements</h1>" in member.get("/portal/").content.decode()


def test_an_unknown_language_or_a_foreign_next_changes_nothing_stored(world):
    # Given a member with no choice
    member = login(world.hoshi_member)
    before = db_snapshot()
    # When the menu is posted a language the site does not offer, and an outside address
    response = member.post("/language/", {"language": "xx", "next": "https://evil.example/"})
    # Then they land on the site's own start page and nothing stored changed
    assert (response.status_code, response["Location"]) == (302, "/")
    assert db_snapshot() == before
