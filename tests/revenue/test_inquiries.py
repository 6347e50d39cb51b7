"""Inquiries, the services: who may open one and when (the review window), the approval guard,
finance's answer — an accepted inquiry excludes or re-attributes its sales as stored data that
later attribution passes honour and re-rates the statement to exact figures; a rejected one
changes nothing — and the audit trail and webhook of each step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.errors import ApplicationError, Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from core.models import AuditLog
from revenue.models import Sale, SaleExclusion, SettlementRun, Statement
from revenue.services import inquiries, statement_batches
from revenue.services.attribution import attribution_reopen, attribution_run
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.inquiries import NET, OCT, SHARE, inquiry_state, october_in_review
from tests.support.revenue import at, backdate, sale, touch
from tests.support.world import hire
from webhooks.models import OutboundEvent
from webhooks.services import webhook_endpoint_create


@pytest.fixture
def scene(world):
    return october_in_review(world)


def _open(world, scene, **kwargs):
    values = {"reason": "not_our_customer", "comment": "This customer came through our own ads."}
    values.update(kwargs)
    return inquiries.inquiry_open(actor=world.hoshi_member, statement=scene.statement, **values)


def test_the_scene_has_the_expected_figures(scene):
    # given October in review: 5,000,000 of sales less a 100,000 refund, graduated tiers
    statement = scene.statement
    assert (statement.status, statement.net, statement.share_precise, statement.wage) == (
        "in_review",
        NET,
        Decimal(SHARE),
        SHARE,
    )


def test_a_member_opens_an_inquiry_on_a_line_and_approval_is_refused_until_it_is_answered(world, scene):
    # when a member of Hoshi Mart questions the attributed sales line
    inquiry = _open(world, scene, line_kind="attributed_sales")
    # then it is open, audited with the member as actor
    assert (inquiry.status, inquiry.line_kind, inquiry.opened_by, inquiry.partner) == (
        "open",
        "attributed_sales",
        world.hoshi_member,
        world.hoshi,
    )
    entry = AuditLog.objects.get(action="inquiry.opened")
    assert (entry.actor, entry.target_id, entry.partner_id) == (world.hoshi_member, str(inquiry.pk), world.hoshi.pk)
    # and approving the statement is refused with a stable code, nothing changed
    before = inquiry_state()
    with pytest.raises(Conflict) as refused:
        statement_approve(actor=world.finance2, statement=scene.statement)
    assert refused.value.code == "inquiry_open"
    assert refused.value.fields == {"inquiries": [str(inquiry.pk)]}
    assert inquiry_state() == before


def test_an_inquiry_on_one_counted_sale_or_refund_is_accepted_but_not_on_an_uncounted_one(world, scene):
    inquiry = _open(world, scene, sale=scene.refund, reason="wrong_amount")
    assert inquiry.sale == scene.refund
    # an unattributed sale of the partner is not counted by the statement
    stray = Sale.objects.create(
        partner=world.hoshi,
        external_id="stray",
        type="sale",
        occurred_at=at(10, 15),
        amount=10,
        currency="JPY",
        period=OCT,
        content_digest="x",
    )
    before = inquiry_state()
    with pytest.raises(ValidationFailed) as refused:
        _open(world, scene, sale=stray)
    assert refused.value.fields == {"sale": ["this statement does not count that sale or refund."]}
    assert inquiry_state() == before


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"line_kind": "share"}, "line"),
        ({"line_kind": "late_sales"}, "line"),  # no late sales this period
        ({}, "line"),
        ({"line_kind": "attributed_sales", "reason": "because"}, "reason"),
        ({"line_kind": "attributed_sales", "comment": "  "}, "comment"),
    ],
)
def test_a_malformed_inquiry_is_refused_and_nothing_changes(world, scene, kwargs, field):
    before = inquiry_state()
    with pytest.raises(ValidationFailed) as refused:
        _open(world, scene, **kwargs)
    assert field in refused.value.fields
    assert inquiry_state() == before


def test_the_same_question_twice_is_refused_while_the_first_is_open(world, scene):
    first = _open(world, scene, line_kind="attributed_sales")
    before = inquiry_state()
    with pytest.raises(InvalidTransition) as refused:
        _open(world, scene, line_kind="attributed_sales")
    assert refused.value.code == "inquiry_duplicate"
    assert inquiry_state() == before
    inquiries.inquiry_withdraw(actor=world.hoshi_member, inquiry=first)
    assert _open(world, scene, line_kind="attributed_sales").status == "open"


def test_after_the_review_window_the_inquiry_is_refused(world, scene):
    # given the statement was sent to review 7 days and a minute ago (the default window)
    Statement.objects.filter(pk=scene.statement.pk).update(submitted_at=timezone.now() - timedelta(days=7, minutes=1))
    scene.statement.refresh_from_db()
    before = inquiry_state()
    with pytest.raises(InvalidTransition) as refused:
        _open(world, scene, line_kind="attributed_sales")
    assert refused.value.code == "inquiry_window_closed"
    assert inquiry_state() == before


def test_the_contract_sets_the_review_window(world):
    # given a contract with a 10-day review window, sent to review 8 days ago
    scene = october_in_review(world, terms_overrides={"review": {"window_days": 10}})
    Statement.objects.filter(pk=scene.statement.pk).update(submitted_at=timezone.now() - timedelta(days=8))
    scene.statement.refresh_from_db()
    # then the partner may still question it
    assert _open(world, scene, line_kind="attributed_sales").status == "open"
    assert inquiries.inquiry_window_closes(statement=scene.statement) == scene.statement.submitted_at + timedelta(
        days=10
    )


def test_a_statement_not_in_review_cannot_be_questioned(world, scene):
    statement = statement_approve(actor=world.finance2, statement=scene.statement)
    assert statement.status == "approved"
    before = inquiry_state()
    with pytest.raises(InvalidTransition) as refused:
        _open(world, scene, line_kind="attributed_sales")
    assert refused.value.code == "statement_not_in_review"
    assert inquiry_state() == before


def test_another_partner_and_finance_cannot_open_one(world, scene):
    before = inquiry_state()
    for actor in (world.wayfarer_owner, world.finance):
        with pytest.raises(PermissionDenied):
            inquiries.inquiry_open(
                actor=actor, statement=scene.statement, reason="other", comment="x", line_kind="attributed_sales"
            )
    assert inquiry_state() == before


@pytest.mark.parametrize(
    "name, content, code",
    [
        ("evil.exe", b"MZ....", "attachment_invalid"),
        ("fake.pdf", b"not a pdf", "attachment_invalid"),
        ("big.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "attachment_too_large"),
    ],
)
def test_a_bad_attachment_is_refused(world, scene, settings, tmp_path, name, content, code):
    settings.MEDIA_ROOT = str(tmp_path)
    before = inquiry_state()
    with pytest.raises(ApplicationError) as refused:
        _open(world, scene, line_kind="attributed_sales", attachment=SimpleUploadedFile(name, content))
    assert refused.value.code == code
    assert inquiry_state() == before
    assert list(tmp_path.rglob("*.*")) == []


def test_an_attachment_is_stored(world, scene, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    inquiry = _open(
        world, scene, line_kind="attributed_sales", attachment=SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt")
    )
    assert inquiry.attachment_name == "receipt.pdf"
    assert inquiry.attachment.read() == b"%PDF-1.4 receipt"


def test_accepting_an_inquiry_on_one_sale_excludes_it_and_re_rates_exactly(world, scene):
    webhook_endpoint_create(
        actor=world.hoshi_owner,
        partner=world.hoshi,
        url="https://hooks.example.com/h",
        event_types=["inquiry.resolved"],
    )
    inquiry = _open(world, scene, sale=scene.sales[0])
    old_fingerprint = scene.statement.fingerprint
    # when finance accepts it
    inquiry = inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept", note="Agreed")
    # then the 3,000,000 sale is excluded as stored data and the statement re-rated:
    # net 1,900,000: 8% of 1,000,000 + 5% of 900,000 = 125,000
    statement = Statement.objects.get(pk=scene.statement.pk)
    assert (statement.status, statement.net, statement.share_precise, statement.wage, statement.total) == (
        "in_review",
        1_900_000,
        Decimal(125_000),
        125_000,
        125_000,
    )
    assert statement.fingerprint != old_fingerprint
    assert statement.submitted_by == world.finance
    assert SaleExclusion.objects.get().sale == scene.sales[0]
    excluded = Sale.objects.get(pk=scene.sales[0].pk)
    assert (excluded.attribution, excluded.placement_id, excluded.attribution_note) == (
        "unattributed",
        None,
        f"Excluded by finance on accepting inquiry #{inquiry.pk}.",
    )
    assert (inquiry.status, inquiry.figures_before["net"], inquiry.figures_after["net"]) == (
        "accepted",
        NET,
        1_900_000,
    )
    # and the step is audited and told to the partner's systems
    assert AuditLog.objects.get(action="inquiry.accepted").actor == world.finance
    event = OutboundEvent.objects.get(type="inquiry.resolved")
    assert event.idempotency_key == f"inquiry:{inquiry.pk}:resolved"
    assert event.payload["inquiry"]["status"] == "accepted"
    assert event.payload["statement"]["net"] == 1_900_000
    # and a later attribution pass over everything never counts the sale back
    attribution_reopen(partner_ids=[world.hoshi.pk])
    attribution_run()
    assert Sale.objects.get(pk=scene.sales[0].pk).attribution == "unattributed"
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    assert Statement.objects.get(pk=scene.statement.pk).net == 1_900_000
    # and once sent to review again, a second finance user approves it
    statement = statement_submit(actor=world.finance, statement=Statement.objects.get(pk=scene.statement.pk))
    assert statement_approve(actor=world.finance2, statement=statement).status == "approved"
    assert Sale.objects.get(pk=scene.sales[0].pk).statement_id is None


def test_accepting_an_inquiry_on_the_sales_line_excludes_every_sale_behind_it(world, scene):
    inquiry = _open(world, scene, line_kind="attributed_sales")
    inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept")
    # every sale is out; the refund of an excluded sale no longer counts either
    assert set(SaleExclusion.objects.values_list("sale_id", flat=True)) == {s.pk for s in scene.sales}
    statement = Statement.objects.get(pk=scene.statement.pk)
    assert (statement.net, statement.wage, statement.total, statement.lines.get(position=1).quantity) == (0, 0, 0, 0)


def test_accepting_an_inquiry_on_a_refund_excludes_the_refund(world, scene):
    inquiry = _open(world, scene, sale=scene.refund, reason="duplicate")
    inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept")
    statement = Statement.objects.get(pk=scene.statement.pk)
    # net 5,000,000: 80,000 + 5% of 4,000,000 = 280,000
    assert (statement.net, statement.wage) == (5_000_000, 280_000)


def test_accepting_with_another_placement_re_attributes_the_sale_to_it(world, scene):
    # given Hoshi Mart's second placement (Kai), settled and in review for October too
    other = backdate(hire(world, employee="kai"))
    touch(other, "coupon", "K1", at(10, 1, 9))
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statement = statement_submit(actor=world.finance, statement=Statement.objects.get(pk=scene.statement.pk))
    kai_statement = Statement.objects.get(contract=other.contract, period=OCT)
    assert kai_statement.net == 0
    inquiry = inquiries.inquiry_open(
        actor=world.hoshi_member,
        statement=statement,
        sale=scene.sales[2],
        reason="not_our_customer",
        comment="Kai sold this one.",
    )
    # when finance accepts it naming Kai's placement
    inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept", reattribute_to=other)
    # then the 400,000 sale counts for Kai, not Rinna, and both statements are re-rated
    assert Statement.objects.get(pk=statement.pk).net == NET - 400_000
    assert Statement.objects.get(pk=kai_statement.pk).net == 400_000
    moved = Sale.objects.get(pk=scene.sales[2].pk)
    assert (moved.attribution, moved.placement_id, moved.touchpoint_id) == ("attributed", other.pk, None)
    # and it stays so through a full attribution pass
    attribution_reopen(partner_ids=[world.hoshi.pk])
    attribution_run()
    assert Sale.objects.get(pk=scene.sales[2].pk).placement_id == other.pk


def test_a_sale_carrying_no_key_counts_where_finance_named_its_placement(world, scene):
    # Given Kai's placement at Hoshi Mart and a 250,000 sale carrying no key, which finance
    # gave to Kai (the stored decision, as accepting an inquiry writes it): settlement leaves
    # keyless sales out before its touchpoint joins, but not one finance placed
    other = backdate(hire(world, employee="kai"))
    keyless = sale(world.hoshi, at(10, 25), 250_000, external_id="oct-keyless")
    inquiry = _open(world, scene, sale=scene.sales[0])
    SaleExclusion.objects.create(
        sale=keyless, partner=world.hoshi, placement=other, inquiry=inquiry, created_by=world.finance
    )
    # when October is settled
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    # then the sale counts for Kai, and Rinna's figures are what they were
    kai = Statement.objects.get(contract=other.contract, period=OCT)
    assert (kai.net, kai.lines.get(kind="attributed_sales").quantity) == (250_000, 1)
    assert Statement.objects.get(contract=scene.placement.contract, period=OCT).net == NET


def test_re_attributing_to_another_partners_placement_is_refused(world, scene):
    theirs = backdate(hire(world, partner="wayfarer"))
    inquiry = _open(world, scene, sale=scene.sales[0])
    before = inquiry_state()
    with pytest.raises(ValidationFailed) as refused:
        inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="accept", reattribute_to=theirs)
    assert "placement" in refused.value.fields
    assert inquiry_state() == before


def test_rejecting_needs_a_reason_and_changes_no_figure(world, scene):
    webhook_endpoint_create(
        actor=world.hoshi_owner,
        partner=world.hoshi,
        url="https://hooks.example.com/h",
        event_types=["inquiry.resolved"],
    )
    inquiry = _open(world, scene, line_kind="attributed_sales")
    before = inquiry_state()
    with pytest.raises(ValidationFailed):
        inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="reject")
    assert inquiry_state() == before
    statement_before = Statement.objects.filter(pk=scene.statement.pk).values().get()
    inquiry = inquiries.inquiry_resolve(
        actor=world.finance, inquiry=inquiry, decision="reject", note="The coupon was the employee's."
    )
    assert (inquiry.status, inquiry.resolution_note) == ("rejected", "The coupon was the employee's.")
    assert Statement.objects.filter(pk=scene.statement.pk).values().get() == statement_before
    assert not SaleExclusion.objects.exists()
    assert OutboundEvent.objects.get(type="inquiry.resolved").payload["inquiry"]["status"] == "rejected"
    # and the statement can now be approved
    assert statement_approve(actor=world.finance2, statement=scene.statement).status == "approved"


def test_only_finance_resolves_and_only_open_inquiries(world, scene):
    inquiry = _open(world, scene, line_kind="attributed_sales")
    before = inquiry_state()
    for actor in (world.hoshi_owner, world.hoshi_manager):
        with pytest.raises(PermissionDenied):
            inquiries.inquiry_resolve(actor=actor, inquiry=inquiry, decision="reject", note="no")
    assert inquiry_state() == before
    inquiries.inquiry_withdraw(actor=world.hoshi_member, inquiry=inquiry)
    assert AuditLog.objects.get(action="inquiry.withdrawn").actor == world.hoshi_member
    before = inquiry_state()
    with pytest.raises(InvalidTransition) as refused:
        inquiries.inquiry_resolve(actor=world.finance, inquiry=inquiry, decision="reject", note="no")
    assert refused.value.code == "inquiry_not_open"
    assert inquiry_state() == before


def test_both_sides_comment_and_each_step_is_audited(world, scene):
    inquiry = _open(world, scene, line_kind="attributed_sales")
    inquiries.inquiry_comment(actor=world.finance, inquiry=inquiry, body="Which customer?")
    inquiries.inquiry_comment(actor=world.hoshi_owner, inquiry=inquiry, body="Order 3001.")
    assert list(inquiry.comments.values_list("side", "author_label", "body")) == [
        ("platform", "finance", "Which customer?"),
        ("partner", "hoshi-owner", "Order 3001."),
    ]
    with pytest.raises(PermissionDenied):
        inquiries.inquiry_comment(actor=world.wayfarer_owner, inquiry=inquiry, body="hi")
    trail = list(
        AuditLog.objects.filter(target_id=str(inquiry.pk), action__startswith="inquiry.")
        .order_by("at", "id")
        .values_list("action", "actor_label")
    )
    assert trail == [
        ("inquiry.opened", world.hoshi_member.username),
        ("inquiry.commented", "finance"),
        ("inquiry.commented", "hoshi-owner"),
    ]


def test_bulk_approval_reports_the_open_inquiry_per_statement(world, scene):
    # given Wayfarer's October in review too, and an open inquiry on Hoshi Mart's only
    other = backdate(hire(world, partner="wayfarer"))
    touch(other, "coupon", "W1", at(10, 1, 9))
    run = SettlementRun.objects.create(period=OCT)
    settlement_run_execute(run_id=run.pk)
    for statement in Statement.objects.filter(period=OCT):
        statement_submit(actor=world.finance, statement=statement)
    inquiry = _open(world, scene, line_kind="refunds", reason="duplicate")
    # when finance approves the whole run
    result = statement_batches.statements_batch_decide(actor=world.finance2, run=run, action="approve")
    # then Hoshi Mart's statement is refused with the inquiry named, Wayfarer's approved
    outcomes = {o.partner: o for o in result.outcomes}
    assert (outcomes["hoshi-mart"].outcome, outcomes["hoshi-mart"].error["code"]) == ("refused", "inquiry_open")
    assert outcomes["hoshi-mart"].error["fields"] == {"inquiries": [str(inquiry.pk)]}
    assert outcomes["wayfarer"].outcome == "approved"
    assert Statement.objects.get(pk=scene.statement.pk).status == "in_review"
