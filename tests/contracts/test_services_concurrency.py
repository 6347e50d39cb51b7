"""Two people acting at once: each race ends with one clean success and one clean refusal
(never a 500, a deadlock or a database error). Transactional tests: each thread has its
own connection and sees only committed rows. Where timing matters, the interleaving is
forced with events placed inside the services, so the tests are deterministic."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from contracts import services
from contracts.models import ContractVersion, Placement
from contracts.selectors import next_period_start
from core.errors import InvalidTransition
from core.models import AuditLog
from tests.support.world import DESIGN_TERMS, hire, this_period

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds; only reached if the forced interleaving is not happening


def run_at_once(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each job in its own named thread, all released together; return each job's
    result or the exception it raised."""
    results: dict[str, Any] = {}
    start = threading.Barrier(len(jobs))

    def run(name: str, job: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=WAIT)
            results[name] = job()
        except Exception as error:
            results[name] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item, name=item[0]) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=3 * WAIT)
        assert not thread.is_alive(), f"{thread.name} is stuck"
    return results


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_two_members_hiring_the_same_employee_at_once_get_one_hire(world):
    # given Hoshi Mart's owner and member, each signed in
    owner, member = signed_in(world.hoshi_owner), signed_in(world.hoshi_member)
    # when both hire Rinna at the same moment
    results = run_at_once(
        {
            "owner": lambda: owner.post("/api/v1/placements", {"employee": "rinna"}, format="json"),
            "member": lambda: member.post("/api/v1/placements", {"employee": "rinna"}, format="json"),
        }
    )
    # then one hire is made and the other is told it conflicts (not a 500)
    assert sorted(response.status_code for response in results.values()) == [201, 409], results
    refused = next(response for response in results.values() if response.status_code == 409)
    assert refused.json()["error"]["code"] == "conflict"
    assert Placement.objects.filter(partner=world.hoshi, employee=world.rinna).count() == 1
    assert AuditLog.objects.filter(action="placement.requested").count() == 1


def test_accepting_twice_at_once_accepts_once(world):
    # given proposed terms, and the owner's two browser tabs
    placement = hire(world, until="proposed")
    url = f"/api/v1/contracts/{placement.contract.pk}/versions/1/accept"
    tabs = [signed_in(world.hoshi_owner), signed_in(world.hoshi_owner)]
    # when both tabs accept at the same moment
    results = run_at_once({f"tab{i}": (lambda tab=tab: tab.post(url)) for i, tab in enumerate(tabs)})
    # then the terms are accepted once and the placement activated once
    assert sorted(response.status_code for response in results.values()) == [200, 409], results
    assert AuditLog.objects.filter(action="contract.accepted").count() == 1
    assert AuditLog.objects.filter(action="placement.activated").count() == 1
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.ACTIVE


def _amendment_proposed(world) -> tuple[Placement, ContractVersion]:
    placement = hire(world)
    version = services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=placement,
        terms=DESIGN_TERMS,
        effective_from=next_period_start(this_period(world.hoshi)),
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=version)
    return Placement.objects.get(pk=placement.pk), ContractVersion.objects.get(pk=version.pk)


def test_accepting_while_the_placement_ends_does_not_deadlock(world, monkeypatch):
    # given an active placement with an amendment proposed
    placement, amendment = _amendment_proposed(world)
    # and, forced: the owner's acceptance is under way when the manager's end takes the
    # placement's lock, and only then does the acceptance ask for the placement
    accepting, end_has_placement = threading.Event(), threading.Event()
    lock_placement = services._lock_placement

    def forced_lock(target: Placement) -> Placement:
        if threading.current_thread().name == "accept":
            accepting.set()
            end_has_placement.wait(timeout=WAIT)
            return lock_placement(target)
        if threading.current_thread().name == "end":
            accepting.wait(timeout=WAIT)
            locked = lock_placement(target)
            end_has_placement.set()
            return locked
        return lock_placement(target)

    monkeypatch.setattr(services, "_lock_placement", forced_lock)
    # when the owner accepts and the manager ends the placement
    results = run_at_once(
        {
            "accept": lambda: services.contract_version_accept(actor=world.hoshi_owner, version=amendment),
            "end": lambda: services.placement_end(actor=world.hoshi_manager, placement=placement, reason="Closing"),
        }
    )
    # then the end goes through, withdrawing the amendment, and the acceptance is refused
    # cleanly (no deadlock victim)
    assert isinstance(results["end"], Placement), results
    assert isinstance(results["accept"], InvalidTransition), results
    assert results["accept"].message == "Version 2 is withdrawn; only proposed terms can be accepted."
    assert ContractVersion.objects.get(pk=amendment.pk).status == ContractVersion.Status.WITHDRAWN
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.ENDED


def test_rejecting_while_the_placement_ends_keeps_the_rejection(world, monkeypatch):
    # given an active placement with an amendment proposed
    placement, amendment = _amendment_proposed(world)
    # and, forced: the owner's rejection commits after the end has looked for open terms
    # but before it withdraws them
    end_has_looked, rejected = threading.Event(), threading.Event()
    version_open = services.contract_version_open

    def forced_open(*, contract):
        found = version_open(contract=contract)
        if threading.current_thread().name == "end":
            end_has_looked.set()
            rejected.wait(timeout=WAIT)
        return found

    def reject() -> ContractVersion:
        end_has_looked.wait(timeout=WAIT)
        try:
            return services.contract_version_reject(actor=world.hoshi_owner, version=amendment, reason="Too low")
        finally:
            rejected.set()

    monkeypatch.setattr(services, "contract_version_open", forced_open)
    # when the manager ends the placement and the owner rejects the amendment
    results = run_at_once(
        {
            "end": lambda: services.placement_end(actor=world.hoshi_manager, placement=placement, reason="Closing"),
            "reject": reject,
        }
    )
    # then both succeed: the amendment stays rejected (it was no longer open to withdraw)
    assert isinstance(results["end"], Placement), results
    assert isinstance(results["reject"], ContractVersion), results
    amendment.refresh_from_db()
    assert (amendment.status, amendment.decision_note) == ("rejected", "Too low")
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.ENDED


def test_revoking_a_key_twice_at_once_revokes_once(world):
    # given a key and the owner's two tabs
    issued = services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS")
    url = f"/api/v1/api-keys/{issued.key.pk}/revoke"
    tabs = [signed_in(world.hoshi_owner), signed_in(world.hoshi_owner)]
    # when both revoke it at the same moment
    results = run_at_once({f"tab{i}": (lambda tab=tab: tab.post(url)) for i, tab in enumerate(tabs)})
    # then it is revoked once; the other tab is told it already was
    assert sorted(response.status_code for response in results.values()) == [200, 409], results
    assert AuditLog.objects.filter(action="api_key.revoked").count() == 1
