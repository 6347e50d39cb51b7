"""An inquiry before money moves, end to end through the browser-facing views and the API: a
partner member questions the refunds line of October in the portal, approval is refused in the
console while it is open, finance accepts it there, the statement re-rates to the exact figures
of the rule without the refund, both sides read the same history, and it is approved."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from revenue.models import Inquiry, SaleExclusion, Statement
from tests.support.inquiries import NET, SHARE, october_in_review
from tests.support.revenue import revenue_state
from tests.support.web import browser, text
from tests.support.world import api_as


def test_a_partner_questions_a_line_finance_accepts_it_and_the_statement_re_rates_and_is_approved(world):
    # given October in review: net 4,900,000, share 275,000 (sent to review by `finance`)
    scene = october_in_review(world)
    statement = scene.statement
    assert (statement.net, statement.wage) == (NET, SHARE)
    member = browser(world.hoshi_member)

    # when the partner member opens the statement in the portal
    page = member.get(reverse("portal-statement", args=[statement.pk]))
    # then it offers to question it, and the evidence behind it
    assert page.status_code == 200
    assert "Question this statement" in text(page)
    assert reverse("portal-statement-evidence-json", args=[statement.pk]) in page.content.decode()
    evidence = member.get(reverse("portal-statement-evidence-csv", args=[statement.pk]))
    assert evidence.status_code == 200
    assert b"oct-2-r" in b"".join(evidence.streaming_content)

    # when they question the refunds line: the refund was entered twice by the till
    response = member.post(
        reverse("portal-inquiry-open", args=[statement.pk]),
        {"subject": "line:refunds", "reason": "duplicate", "comment": "The till sent this refund by mistake."},
    )
    assert response.status_code == 302, text(response)
    inquiry = Inquiry.objects.get()
    assert (inquiry.line_kind, inquiry.status, inquiry.opened_by) == ("refunds", "open", world.hoshi_member)

    # then finance sees it in the console, and approving is refused while it is open
    finance2 = browser(world.finance2)
    before = revenue_state()
    response = finance2.post(reverse("console-statement-approve", args=[statement.pk]))
    assert response.status_code == 409
    assert "open inquiry on this statement" in text(response)
    assert f"#{inquiry.pk}" in text(response)
    assert revenue_state() == before
    assert Statement.objects.get(pk=statement.pk).status == "in_review"

    # when finance asks a question and the partner answers, both in their own pages
    finance = browser(world.finance)
    assert (
        finance.post(reverse("console-inquiry-comment", args=[inquiry.pk]), {"body": "Which till?"}).status_code == 302
    )
    assert member.post(reverse("portal-inquiry-comment", args=[inquiry.pk]), {"body": "Till 4."}).status_code == 302

    # when finance accepts it in the console
    response = finance.post(
        reverse("console-inquiry-resolve", args=[inquiry.pk]), {"decision": "accept", "note": "Duplicate refund."}
    )
    assert response.status_code == 302, text(response)

    # then the refund is excluded as stored data and the statement re-rated to the rule's exact
    # figures without it: net 5,000,000; 8% of 1,000,000 + 5% of 4,000,000 = 280,000
    assert list(SaleExclusion.objects.values_list("sale__external_id", flat=True)) == ["oct-2-r"]
    statement.refresh_from_db()
    assert (statement.status, statement.net, statement.share_precise, statement.wage, statement.payable) == (
        "in_review",
        5_000_000,
        Decimal(280_000),
        280_000,
        280_000,
    )
    assert statement.submitted_by == world.finance

    # and both sides read the same history: the portal page, the console page and the API
    steps = [f"Inquiry #{inquiry.pk} opened", "Comment on inquiry", f"Inquiry #{inquiry.pk} accepted"]
    portal_page = text(member.get(reverse("portal-statement", args=[statement.pk])))
    console_page = text(finance.get(reverse("console-statement", args=[statement.pk])))
    for step in [*steps, "Which till?", "Till 4.", "Duplicate refund."]:
        assert step in portal_page, step
        assert step in console_page, step
    body = api_as(world.hoshi_member).get(f"/api/v1/inquiries/{inquiry.pk}").json()
    assert body["status"] == "accepted"
    assert [step["action"] for step in body["history"]] == [
        "inquiry.opened",
        "inquiry.commented",
        "inquiry.commented",
        "inquiry.accepted",
    ]
    assert (body["figures_before"]["net"], body["figures_after"]["net"]) == (NET, 5_000_000)

    # when another finance user approves it (four eyes: `finance` re-submitted it)
    response = finance2.post(reverse("console-statement-approve", args=[statement.pk]))
    # then it is approved with the re-rated figures
    assert response.status_code == 302, text(response)
    statement.refresh_from_db()
    assert (statement.status, statement.payable, statement.approved_by) == ("approved", 280_000, world.finance2)
