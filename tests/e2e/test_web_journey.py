"""The whole hire journey through the web UI, as the people involved click through it."""

from __future__ import annotations

import json

from django.urls import reverse

from contracts import services
from contracts.models import ContractVersion, Notification, Placement, PlacementTransition
from contracts.terms import terms_describe, terms_validate
from core.models import AuditLog
from tests.support.web import browser
from tests.support.world import DESIGN_TERMS, design_terms, hire, next_period_start_for, this_period

NOT_YET = "Not yet available — measured once the revenue engine is live"


def audit_actions() -> list[str]:
    return list(AuditLog.objects.order_by("id").values_list("action", flat=True))


def test_partner_hires_rinna_and_the_manager_contracts_her_through_the_web(world):
    owner = browser(world.hoshi_owner)
    manager = browser(world.hoshi_manager)

    # given the partner owner opens the catalog
    response = owner.get(reverse("catalog"))
    # then both published employees are on it, with their skills by label
    assert response.status_code == 200
    assert [card.employee.slug for card in response.context["cards"]] == ["kai", "rinna"]
    assert "Coupon promoter" in response.content.decode()
    assert "Customer service" in response.content.decode()

    # when they filter by skill
    response = owner.get(reverse("catalog"), {"skill": "coupon_promoter"})
    # then only Rinna is left
    assert response.status_code == 200
    assert [card.employee.slug for card in response.context["cards"]] == ["rinna"]

    # when the same filter comes from htmx
    response = owner.get(reverse("catalog"), {"skill": "coupon_promoter"}, HTTP_HX_REQUEST="true")
    # then only the results fragment is sent, not the whole page
    assert response.status_code == 200
    assert response.templates[0].name == "employees/_catalog_results.html"
    assert "<html" not in response.content.decode()

    # when they open Rinna's résumé
    response = owner.get(reverse("resume", args=["rinna"]))
    page = response.content.decode()
    # then it offers the hire, and revenue figures are "not yet available", never 0
    assert response.status_code == 200
    assert "Hire Rinna" in page
    assert reverse("portal-hire", args=["rinna"]) in page
    assert page.count(NOT_YET) == 2
    assert response.context["track"].placements_total == 0

    # when they hire her with a note
    response = owner.post(reverse("portal-hire", args=["rinna"]), {"note": "Autumn coupon campaign"})
    # then a request exists and they land on its portal page
    placement = Placement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-placement", args=[placement.pk])
    assert (placement.partner, placement.employee, placement.status, placement.request_note) == (
        world.hoshi,
        world.rinna,
        Placement.Status.REQUESTED,
        "Autumn coupon campaign",
    )
    assert audit_actions() == ["placement.requested"]
    response = owner.get(response["Location"])
    assert response.status_code == 200
    assert "Your request to hire Rinna was sent to your account manager." in response.content.decode()

    # when the account manager opens the console
    response = manager.get(reverse("console"))
    # then the request waits there
    assert response.status_code == 200
    assert [p.pk for p in response.context["waiting"]] == [placement.pk]

    # when they approve it
    response = manager.post(reverse("console-placement-action", args=[placement.pk, "approve"]), {"reason": ""})
    # then the placement is approved with a contract in the partner's currency
    assert response.status_code == 302
    assert response["Location"] == reverse("console-placement", args=[placement.pk])
    placement.refresh_from_db()
    assert placement.status == Placement.Status.APPROVED
    assert placement.contract.currency == "JPY"
    assert audit_actions() == ["placement.requested", "placement.approved"]

    # when they open the placement
    response = manager.get(reverse("console-placement", args=[placement.pk]))
    # then the draft form starts at the next period start (never retroactively) with the
    # template terms in JPY
    assert response.status_code == 200
    form = response.context["terms_form"]
    assert form.initial["effective_from"] == next_period_start_for(world.hoshi)
    assert json.loads(form.initial["terms"])["currency"] == "JPY"
    assert json.loads(form.initial["terms"])["splits"] == [
        {"payee": "platform", "share": "0.7"},
        {"payee": "studio-aoi", "share": "0.3"},
    ]

    # when they check DESIGN.md's terms with the htmx button
    terms_json = json.dumps(DESIGN_TERMS, indent=2)
    response = manager.post(
        reverse("console-terms-check", args=[placement.pk]),
        {"terms": terms_json, "effective_from": ""},
        HTTP_HX_REQUEST="true",
    )
    # then the plain-language reading comes back, and nothing was saved
    assert response.status_code == 200
    assert response.context["errors"] == {}
    assert [line.text for line in response.context["lines"]] == [
        line.strip()
        for line in terms_describe(
            terms_validate(design_terms(), known_payees=["platform", "studio-aoi"], required_currency="JPY"),
            payee_names={"platform": "Haken platform", "studio-aoi": "Studio Aoi"},
        )
    ]
    assert (
        "8% of net revenue up to JPY 1,000,000, then 5% of the part above JPY 1,000,000, each month."
        in response.content.decode()
    )
    assert ContractVersion.objects.count() == 0

    # when they save the terms as a draft
    response = manager.post(
        reverse("console-terms-draft", args=[placement.pk]),
        {"effective_from": this_period(world.hoshi).isoformat(), "terms": terms_json},
    )
    # then version 1 is a draft with DESIGN.md's terms, in canonical form
    assert response.status_code == 302
    version = ContractVersion.objects.get()
    assert (version.number, version.status, version.effective_from) == (
        1,
        ContractVersion.Status.DRAFT,
        this_period(world.hoshi),
    )
    assert version.terms == design_terms()
    assert audit_actions() == ["placement.requested", "placement.approved", "contract.drafted"]

    # when they send it to the partner
    response = manager.post(reverse("console-version-action", args=[placement.pk, 1, "propose"]))
    # then it is proposed
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == ContractVersion.Status.PROPOSED
    assert audit_actions()[-1] == "contract.proposed"

    # when the partner owner opens the portal
    response = owner.get(reverse("portal"))
    # then version 1 needs their decision
    assert response.status_code == 200
    assert [v.pk for v in response.context["awaiting"]] == [version.pk]
    assert "Needs your decision" in response.content.decode()
    response = owner.get(reverse("portal-placement", args=[placement.pk]))
    page = response.content.decode()
    assert "Accept version 1" in page
    assert "At least JPY 300,000 a month, whatever the sales (minimum wage)." in page

    # when they accept it
    response = owner.post(reverse("portal-version-action", args=[placement.pk, 1, "accept"]))
    # then the terms are in force from this period and the placement is active
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-placement", args=[placement.pk])
    version.refresh_from_db()
    placement.refresh_from_db()
    assert (version.status, version.decided_by) == (ContractVersion.Status.ACCEPTED, world.hoshi_owner)
    assert placement.status == Placement.Status.ACTIVE
    assert list(PlacementTransition.objects.filter(placement=placement).values_list("from_status", "to_status")) == [
        ("", "requested"),
        ("requested", "approved"),
        ("approved", "active"),
    ]
    assert audit_actions() == [
        "placement.requested",
        "placement.approved",
        "contract.drafted",
        "contract.proposed",
        "contract.accepted",
        "placement.activated",
    ]
    # and nothing waits for a decision any more
    response = owner.get(reverse("portal"))
    assert list(response.context["awaiting"]) == []
    assert "Needs your decision" not in response.content.decode()

    # and the console's audit trail for the placement shows every step, newest first
    response = manager.get(reverse("console-placement", args=[placement.pk]))
    assert [row.entry.action for row in response.context["audit"]] == [
        "placement.activated",
        "contract.accepted",
        "contract.proposed",
        "contract.drafted",
        "placement.approved",
        "placement.requested",
    ]


def test_the_manager_amends_terms_from_next_period_and_the_partner_rejects_them(world):
    # given an active placement under version 1
    placement = hire(world)
    manager = browser(world.hoshi_manager)
    owner = browser(world.hoshi_owner)
    response = manager.get(reverse("console-placement", args=[placement.pk]))
    # then the amendment form starts next period, prefilled with the terms in force
    form = response.context["terms_form"]
    from contracts.selectors import next_period_start, partner_today

    next_start = next_period_start(partner_today(partner=world.hoshi))
    assert form.initial["effective_from"] == next_start
    assert json.loads(form.initial["terms"]) == design_terms()

    # when the manager drafts a flat 6% from next period, edits it to 7%, and sends it
    amended = design_terms(share={"model": "flat", "rate": "0.06"})
    manager.post(
        reverse("console-terms-draft", args=[placement.pk]),
        {"effective_from": next_start.isoformat(), "terms": json.dumps(amended)},
    )
    amended["share"]["rate"] = "0.07"
    response = manager.post(
        reverse("console-version-update", args=[placement.pk, 2]),
        {"effective_from": next_start.isoformat(), "terms": json.dumps(amended)},
    )
    assert response.status_code == 302
    manager.post(reverse("console-version-action", args=[placement.pk, 2, "propose"]))
    version = placement.contract.versions.get(number=2)
    assert (version.status, version.terms["share"]) == (
        ContractVersion.Status.PROPOSED,
        {"model": "flat", "rate": "0.07"},
    )

    # when the partner owner rejects it with a reason
    response = owner.post(
        reverse("portal-version-action", args=[placement.pk, 2, "reject"]), {"reason": "7% is too much for us"}
    )
    # then the version is rejected with that note, and version 1 stays in force
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.status, version.decision_note) == (ContractVersion.Status.REJECTED, "7% is too much for us")
    assert placement.contract.versions.get(number=1).status == ContractVersion.Status.ACCEPTED
    assert AuditLog.objects.order_by("id").values_list("action", flat=True).last() == "contract.rejected"


def test_notifications_list_and_mark_all_read(world):
    # given a journey whose notices were delivered (the task body, run here directly)
    placement = hire(world, until="proposed")
    for entry_id in AuditLog.objects.order_by("id").values_list("id", flat=True):
        services.notifications_send(audit_entry_id=entry_id)
    mine = Notification.objects.filter(recipient=world.hoshi_owner)
    assert mine.count() >= 2
    owner = browser(world.hoshi_owner)

    # when the owner opens notifications
    response = owner.get(reverse("notifications"))
    # then they see theirs, newest first, linked to the portal page, with the unread count
    assert response.status_code == 200
    assert [n.pk for n in response.context["page"].object_list] == list(
        mine.order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    assert response.context["nav_unread"] == mine.count()
    assert f'href="{reverse("portal-placement", args=[placement.pk])}"' in response.content.decode()

    # when they mark all read
    response = owner.post(reverse("notifications-read"))
    # then none of theirs is unread, and nobody else's changed
    assert response.status_code == 302
    assert mine.filter(read_at__isnull=True).count() == 0
    manager_notices = Notification.objects.filter(recipient=world.hoshi_manager)
    assert manager_notices.count() >= 1
    assert manager_notices.filter(read_at__isnull=False).count() == 0
    assert owner.get(reverse("notifications")).context["nav_unread"] == 0


def test_each_role_lands_on_its_home_and_sees_its_navigation(world):
    # given a partner owner, an account manager and staff
    # when each opens the site root
    # then partners land in the portal, everyone else in the console
    assert browser(world.hoshi_owner).get("/")["Location"] == reverse("portal")
    assert browser(world.hoshi_manager).get("/")["Location"] == reverse("console")
    # and the navigation matches the role
    partner_page = browser(world.hoshi_owner).get(reverse("portal")).content.decode()
    assert "API keys" in partner_page and "Audit log" not in partner_page
    assert "Hoshi Mart" in partner_page
    staff_page = browser(world.staff).get(reverse("console")).content.decode()
    assert "Audit log" in staff_page and reverse("admin:index") in staff_page
    manager_page = browser(world.hoshi_manager).get(reverse("console")).content.decode()
    assert reverse("admin:index") not in manager_page
    # and the stylesheet and htmx are served from this site, never a CDN
    assert "/static/css/app.css" in partner_page
    assert "/static/django_htmx/htmx-2.min.js" in partner_page
    assert "https://" not in partner_page.split("<body")[0]


def test_login_page_signs_in_and_logout_is_a_post(world, client):
    # given the login page
    response = client.get(reverse("login"))
    assert response.status_code == 200
    # when a partner owner signs in
    response = client.post(reverse("login"), {"username": "hoshi-owner", "password": "correct-horse-battery"})
    # then they go home, and from there to the portal
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("portal")).status_code == 200
    # when they log out with a POST
    response = client.post(reverse("logout"))
    # then they are signed out
    assert response.status_code == 302
    assert client.get(reverse("portal")).status_code == 302


def test_the_console_filters_placements_by_status(world):
    # given one active and one requested placement at Hoshi Mart
    active = hire(world)
    requested = hire(world, employee="kai", until="requested")
    manager = browser(world.hoshi_manager)
    # when the manager filters by status
    # then each filter shows its own
    assert [p.pk for p in manager.get(reverse("console"), {"status": "active"}).context["page"]] == [active.pk]
    assert [p.pk for p in manager.get(reverse("console"), {"status": "requested"}).context["page"]] == [requested.pk]
    assert [p.pk for p in manager.get(reverse("console"), {"status": ""}).context["page"]] == [requested.pk, active.pk]


def test_the_audit_log_pages_and_filters_by_partner(world):
    # given 55 audited changes at Hoshi Mart (keys created and revoked) and a Wayfarer hire
    for index in range(55):
        services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name=f"key {index}")
    hire(world, partner="wayfarer", employee="kai", until="requested")
    staff = browser(world.staff)
    # when staff read the whole log
    first = staff.get(reverse("console-audit"))
    second = staff.get(reverse("console-audit"), {"page": 2})
    # then it comes 50 entries a page, newest first
    assert first.status_code == second.status_code == 200
    assert len(first.context["rows"]) == 50
    assert len(second.context["rows"]) == 6
    assert first.context["rows"][0].entry.action == "placement.requested"
    assert "?page=2" in first.content.decode()
    # when they filter by Hoshi Mart, then only its entries are listed, and the pager keeps the filter
    response = staff.get(reverse("console-audit"), {"partner": "hoshi-mart"})
    assert response.context["page"].paginator.count == 55
    assert {row.entry.partner_id for row in response.context["rows"]} == {world.hoshi.pk}
    assert "?partner=hoshi-mart&amp;page=2" in response.content.decode()
