"""The audit log records the changes that matter — contract terms, statements, invoices,
payouts, API keys — and refuses to be rewritten (the raw-SQL and ORM refusals of single
rows are in tests/contracts/test_db_guards.py; here: every kind of entry the money loop leaves)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from contracts.services import api_key_create, api_key_revoke
from core.models import AuditLog
from tests.support.payments import (
    collect,
    connect_payees,
    october_statement,
    placement_with_coupons,
    run_payouts,
)


def actions() -> list[tuple[str, str]]:
    return list(AuditLog.objects.order_by("pk").values_list("action", "actor_label"))


def test_the_money_loop_and_api_keys_leave_an_append_only_trail(world, local_stripe):
    # given a contract accepted, an October statement settled, submitted and approved,
    # invoiced, paid and paid out, and an API key created and revoked
    connect_payees(local_stripe)
    statement = october_statement(world, placement_with_coupons(world))
    collect(world, local_stripe, statement)
    run_payouts(world)
    issued = api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="Till")
    api_key_revoke(actor=world.hoshi_owner, key=issued.key)
    # then each step is on the trail, by who did it
    trail = actions()
    recorded = {action for action, _label in trail}
    for expected in [
        "placement.requested",
        "contract.drafted",
        "contract.proposed",
        "contract.accepted",
        "statement.in_review",
        "statement.approved",
        "invoice.created",
        "invoice.issued",
        "invoice.paid",
        "payout_run.requested",
        "payout.sent",
        "api_key.created",
        "api_key.revoked",
    ]:
        assert expected in recorded, (expected, sorted(recorded))
    assert ("contract.accepted", "hoshi-owner") in trail
    # four eyes: one finance user sends the statement to review, another approves it
    assert ("statement.in_review", "finance") in trail
    assert ("statement.approved", "finance-2") in trail
    assert ("payout_run.requested", "finance") in trail
    assert ("api_key.revoked", "hoshi-owner") in trail
    assert [label for action, label in trail if action == "payout.sent"] == ["stripe", "stripe"]
    # and no entry of any kind can be rewritten or removed
    before = list(AuditLog.objects.order_by("pk").values_list("pk", "action", "actor_label", "summary", "changes"))
    for entry in AuditLog.objects.distinct("action").order_by("action"):
        with pytest.raises(IntegrityError), transaction.atomic():
            AuditLog.objects.filter(pk=entry.pk).update(summary="rewritten")
        with pytest.raises(IntegrityError), transaction.atomic():
            AuditLog.objects.filter(pk=entry.pk).delete()
    after = list(AuditLog.objects.order_by("pk").values_list("pk", "action", "actor_label", "summary", "changes"))
    assert after == before
