"""The database itself refuses what the services never do: rewriting the audit trail,
changing terms a partner saw, a second version under discussion, a second open hire.
Each statement runs in its own savepoint, so a refusal leaves the test's transaction usable
and we can check the row is exactly as before."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from contracts import services
from contracts.models import ContractVersion, Placement
from contracts.selectors import next_period_start
from core.models import AuditLog
from tests.support.world import design_terms, hire, this_period


def refused(sql: str, params: list[Any]) -> psycopg.Error:
    """Run one statement that the database must refuse; return the driver's error."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    cause = caught.value.__cause__
    assert isinstance(cause, psycopg.Error), repr(cause)
    return cause


def row(table: str, pk: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


# --- audit log ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "operation"),
    [
        ("UPDATE core_auditlog SET summary = 'rewritten' WHERE id = %s", "UPDATE"),
        ("UPDATE core_auditlog SET actor_id = NULL, actor_label = 'nobody' WHERE id = %s", "UPDATE"),
        ("DELETE FROM core_auditlog WHERE id = %s", "DELETE"),
    ],
    ids=["update-summary", "update-actor", "delete"],
)
def test_audit_rows_cannot_be_changed_or_deleted(world, sql, operation):
    # given an audit trail
    hire(world, until="requested")
    entry = AuditLog.objects.get()
    before, total = row("core_auditlog", entry.pk), count("core_auditlog")
    # when raw SQL rewrites or deletes a row
    error = refused(sql, [entry.pk])
    # then the database refuses it, naming the operation, and the row is as it was
    assert error.sqlstate == "23000"
    assert error.diag.message_primary == f"core_auditlog is append-only ({operation} refused)"
    assert row("core_auditlog", entry.pk) == before
    assert count("core_auditlog") == total


def test_audit_rows_cannot_be_changed_through_the_orm_either(world):
    # given an audit entry
    hire(world, until="requested")
    entry = AuditLog.objects.get()
    before = row("core_auditlog", entry.pk)
    # when the ORM updates or deletes it
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditLog.objects.filter(pk=entry.pk).update(summary="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        entry.delete()
    # then it is unchanged
    assert row("core_auditlog", entry.pk) == before


# --- contract versions -----------------------------------------------------------------


def _version(world, status: str) -> ContractVersion:
    """v1 of Rinna's contract at Hoshi Mart in `status`."""
    if status == "draft":
        placement = hire(world, until="approved")
        return services.contract_version_draft(
            actor=world.hoshi_manager,
            placement=placement,
            terms=design_terms(),
            effective_from=this_period(world.hoshi),
        )
    placement = hire(world, until="proposed" if status in ("proposed", "rejected", "withdrawn") else "active")
    version = placement.contract.versions.get(number=1)
    if status == "rejected":
        services.contract_version_reject(actor=world.hoshi_owner, version=version, reason="No")
    elif status == "withdrawn":
        services.contract_version_withdraw(actor=world.hoshi_manager, version=version)
    version.refresh_from_db()
    assert version.status == status
    return version


FROZEN_CHANGES = [
    (
        "terms",
        "UPDATE contracts_contractversion SET terms = %s::jsonb WHERE id = %s",
        lambda version: [json.dumps(design_terms(hold_days=0)), version.pk],
    ),
    (
        "effective_from",
        "UPDATE contracts_contractversion SET effective_from = %s WHERE id = %s",
        lambda version: [next_period_start(version.effective_from), version.pk],
    ),
    ("number", "UPDATE contracts_contractversion SET number = 7 WHERE id = %s", lambda version: [version.pk]),
]


@pytest.mark.parametrize("status", ["proposed", "accepted", "rejected", "withdrawn"])
@pytest.mark.parametrize(("column", "sql", "params"), FROZEN_CHANGES, ids=[c[0] for c in FROZEN_CHANGES])
def test_sent_terms_are_frozen(world, status, column, sql, params):
    # given a version that has left the draft state
    version = _version(world, status)
    before = row("contracts_contractversion", version.pk)
    # when raw SQL changes its terms, start date or number
    error = refused(sql, params(version))
    # then the database refuses, and the row is as it was
    assert error.sqlstate == "23000"
    assert error.diag.message_primary == f"contract version {version.pk} is {status} and its terms are frozen"
    assert row("contracts_contractversion", version.pk) == before


@pytest.mark.parametrize("status", ["proposed", "accepted", "rejected", "withdrawn"])
def test_sent_versions_cannot_be_deleted(world, status):
    # given a version that has left the draft state
    version = _version(world, status)
    before = row("contracts_contractversion", version.pk)
    # when raw SQL deletes it
    error = refused("DELETE FROM contracts_contractversion WHERE id = %s", [version.pk])
    # then the database refuses
    assert error.sqlstate == "23000"
    assert error.diag.message_primary == f"contract version {version.pk} is {status} and cannot be deleted"
    assert row("contracts_contractversion", version.pk) == before


def test_frozen_terms_refused_through_the_orm(world):
    # given an accepted version
    version = _version(world, "accepted")
    before = row("contracts_contractversion", version.pk)
    # when the ORM saves new terms or deletes it
    version.terms = design_terms(hold_days=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        version.save(update_fields=["terms"])
    with pytest.raises(IntegrityError), transaction.atomic():
        ContractVersion.objects.filter(pk=version.pk).delete()
    # then it is unchanged
    assert row("contracts_contractversion", version.pk) == before


@pytest.mark.parametrize(
    ("status", "to_status"),
    [
        ("accepted", "proposed"),
        ("accepted", "draft"),
        ("rejected", "accepted"),
        ("withdrawn", "proposed"),
    ],
)
def test_decided_versions_stay_decided(world, status, to_status):
    # given a decided version
    version = _version(world, status)
    before = row("contracts_contractversion", version.pk)
    # when raw SQL moves its status on
    error = refused("UPDATE contracts_contractversion SET status = %s WHERE id = %s", [to_status, version.pk])
    # then the database refuses
    assert error.diag.message_primary == f"contract version {version.pk} is {status} for good"
    assert row("contracts_contractversion", version.pk) == before


def test_a_draft_may_change_and_a_proposal_may_be_decided(world):
    # given a draft (the guard's other side: the services rely on these working)
    version = _version(world, "draft")
    # when its terms change, then it is proposed and its status moves on
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE contracts_contractversion SET terms = %s::jsonb WHERE id = %s",
            [json.dumps(design_terms(hold_days=3)), version.pk],
        )
        cursor.execute("UPDATE contracts_contractversion SET status = 'proposed' WHERE id = %s", [version.pk])
        cursor.execute("UPDATE contracts_contractversion SET status = 'accepted' WHERE id = %s", [version.pk])
    # then the database allowed each step
    version.refresh_from_db()
    assert (version.status, version.terms["hold_days"]) == ("accepted", 3)


def test_a_draft_may_be_deleted(world):
    # given a draft
    version = _version(world, "draft")
    # when it is deleted
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contracts_contractversion WHERE id = %s", [version.pk])
    # then it is gone
    assert not ContractVersion.objects.filter(pk=version.pk).exists()


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ("draft", "draft"),
        ("draft", "proposed"),
        ("proposed", "draft"),
        ("proposed", "proposed"),
    ],
)
def test_one_open_version_per_contract(world, existing, new):
    # given a contract with a version under discussion
    version = _version(world, existing)
    total = count("contracts_contractversion")
    # when a second draft/proposed version is inserted
    error = refused(
        "INSERT INTO contracts_contractversion (contract_id, number, terms, effective_from, status, "
        "created_by_id, created_at, decision_note) VALUES (%s, 2, %s::jsonb, %s, %s, %s, now(), '')",
        [version.contract_id, json.dumps(design_terms()), version.effective_from, new, world.hoshi_manager.pk],
    )
    # then the unique constraint refuses it
    assert error.sqlstate == "23505"
    assert error.diag.constraint_name == "contract_one_open_version"
    assert count("contracts_contractversion") == total


def test_one_accepted_version_per_start_date(world):
    # given an accepted v1 from this period
    version = _version(world, "accepted")
    total = count("contracts_contractversion")
    # when a second accepted version from the same date is inserted
    error = refused(
        "INSERT INTO contracts_contractversion (contract_id, number, terms, effective_from, status, "
        "created_by_id, created_at, decision_note) VALUES (%s, 2, %s::jsonb, %s, 'accepted', %s, now(), '')",
        [version.contract_id, json.dumps(design_terms()), version.effective_from, world.hoshi_manager.pk],
    )
    # then the unique constraint refuses it
    assert (error.sqlstate, error.diag.constraint_name) == ("23505", "contract_one_accepted_version_per_start")
    assert count("contracts_contractversion") == total


def test_version_numbers_are_unique_per_contract(world):
    # given an accepted v1
    version = _version(world, "accepted")
    total = count("contracts_contractversion")
    # when another v1 is inserted (withdrawn, so no other rule applies)
    error = refused(
        "INSERT INTO contracts_contractversion (contract_id, number, terms, effective_from, status, "
        "created_by_id, created_at, decision_note) VALUES (%s, 1, %s::jsonb, %s, 'withdrawn', %s, now(), '')",
        [version.contract_id, json.dumps(design_terms()), version.effective_from, world.hoshi_manager.pk],
    )
    # then it is refused
    assert (error.sqlstate, error.diag.constraint_name) == ("23505", "contract_version_number")
    assert count("contracts_contractversion") == total


# --- placements ------------------------------------------------------------------------


INSERT_PLACEMENT = (
    "INSERT INTO contracts_placement (partner_id, employee_id, status, requested_by_id, request_note, "
    "created_at, updated_at) VALUES (%s, %s, %s, %s, '', now(), now())"
)


@pytest.mark.parametrize("open_status", ["requested", "approved", "active", "paused"])
@pytest.mark.parametrize("new_status", ["requested", "active"])
def test_one_open_placement_per_partner_and_employee(world, open_status, new_status):
    # given Rinna's placement at Hoshi Mart, still open
    placement = hire(world, until=open_status)
    total = count("contracts_placement")
    # when a second open placement of Rinna at Hoshi Mart is inserted
    error = refused(INSERT_PLACEMENT, [world.hoshi.pk, world.rinna.pk, new_status, world.hoshi_owner.pk])
    # then the partial unique constraint refuses it
    assert (error.sqlstate, error.diag.constraint_name) == ("23505", "placement_one_open_per_partner_employee")
    assert count("contracts_placement") == total
    assert Placement.objects.get().status == placement.status


def test_ended_placements_do_not_block_a_new_hire(world):
    # given an ended placement of Rinna at Hoshi Mart, and Rinna open at Wayfarer
    first = hire(world, until="requested")
    services.placement_withdraw(actor=world.hoshi_owner, placement=first)
    hire(world, partner="wayfarer", until="requested")
    # when a new open placement is inserted at Hoshi Mart, and an ended one beside it
    with connection.cursor() as cursor:
        cursor.execute(INSERT_PLACEMENT, [world.hoshi.pk, world.rinna.pk, "requested", world.hoshi_owner.pk])
        cursor.execute(INSERT_PLACEMENT, [world.hoshi.pk, world.rinna.pk, "ended", world.hoshi_owner.pk])
    # then the database accepts both
    assert sorted(Placement.objects.filter(partner=world.hoshi).values_list("status", flat=True)) == [
        "ended",
        "ended",
        "requested",
    ]


def test_placement_status_must_be_known(world):
    # given a placement
    placement = hire(world, until="requested")
    before = row("contracts_placement", placement.pk)
    # when raw SQL sets an unknown status
    error = refused("UPDATE contracts_placement SET status = 'hired' WHERE id = %s", [placement.pk])
    # then the check constraint refuses it
    assert (error.sqlstate, error.diag.constraint_name) == ("23514", "placement_status_valid")
    assert row("contracts_placement", placement.pk) == before
