"""The hire journey with a real Celery worker process over the real broker: every step
that concerns someone else reaches them as a notification made by the worker."""

import pytest
from rest_framework.test import APIClient

from contracts import services
from contracts.models import Notification, Placement
from contracts.tasks import placements_activate_due
from tests.support.workers import wait_for
from tests.support.world import design_terms, next_period_start_for, this_period

pytestmark = pytest.mark.integration


def _client(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_hire_journey_notifies_through_the_worker(world, celery_worker_process):
    owner, manager = world.hoshi_owner, world.hoshi_manager

    # when the partner owner hires Rinna through the API
    response = _client(owner).post("/api/v1/placements", {"employee": "rinna", "note": "Autumn"}, format="json")
    assert response.status_code == 201
    placement_id = response.json()["id"]

    # then the worker tells the account manager, with a link to the console page
    notice = wait_for(
        lambda: Notification.objects.filter(recipient=manager).first(), what="the account manager's notification"
    )
    assert notice.message == "Hoshi Mart asked to hire Rinna"
    assert notice.url == f"/console/placements/{placement_id}/"

    # when the manager approves and sends terms
    manager_api = _client(manager)
    approved = manager_api.post(f"/api/v1/placements/{placement_id}/approve", {}, format="json")
    assert approved.status_code == 200
    contract_id = Placement.objects.get(pk=placement_id).contract.pk
    effective = this_period(world.hoshi).isoformat()
    assert (
        manager_api.post(
            f"/api/v1/contracts/{contract_id}/versions",
            {"terms": design_terms(), "effective_from": effective},
            format="json",
        ).status_code
        == 201
    )
    assert manager_api.post(f"/api/v1/contracts/{contract_id}/versions/1/propose", {}, format="json").status_code == 200

    # then the owner hears of the approval and of the terms waiting for a decision
    wait_for(lambda: Notification.objects.filter(recipient=owner).count() == 2, what="the owner's two notifications")
    assert sorted(Notification.objects.filter(recipient=owner).values_list("message", flat=True)) == [
        "Rinna at Hoshi Mart: requested → approved",
        "Sent v1 of the contract for Rinna at Hoshi Mart to Hoshi Mart",
    ]

    # when the owner accepts, the placement is active and the manager is told
    assert (
        _client(owner).post(f"/api/v1/contracts/{contract_id}/versions/1/accept", {}, format="json").status_code == 200
    )
    assert Placement.objects.get(pk=placement_id).status == "active"
    wait_for(
        lambda: Notification.objects.filter(recipient=manager).count() == 3,
        what="the manager's notices of acceptance and activation",
    )
    # the member who did not request the hire is not notified; running the notification
    # task again for every entry creates nothing new
    assert Notification.objects.filter(recipient=world.hoshi_member).count() == 0
    total = Notification.objects.count()
    from core.models import AuditLog

    assert (
        sum(services.notifications_send(audit_entry_id=pk) for pk in AuditLog.objects.values_list("pk", flat=True)) == 0
    )
    assert Notification.objects.count() == total


def test_beat_task_activates_on_the_worker(world, celery_worker_process):
    # given an approved placement whose accepted terms start next month
    placement = _approved_with_future_terms(world)
    # when the beat task runs on the worker now, nothing is due yet
    placements_activate_due.delay()
    wait_for(
        lambda: (
            b"placements_activate_due" in celery_worker_process.log_path.read_bytes()
            and b"succeeded" in celery_worker_process.log_path.read_bytes()
        ),
        what="the beat task to run",
    )
    assert Placement.objects.get(pk=placement.pk).status == "approved"


def _approved_with_future_terms(world):
    placement = services.placement_request(actor=world.hoshi_owner, employee=world.rinna)
    services.placement_approve(actor=world.hoshi_manager, placement=placement)
    placement.refresh_from_db()
    version = services.contract_version_draft(
        actor=world.hoshi_manager,
        placement=placement,
        terms=design_terms(),
        effective_from=next_period_start_for(placement.partner),
    )
    services.contract_version_propose(actor=world.hoshi_manager, version=version)
    services.contract_version_accept(actor=world.hoshi_owner, version=version)
    placement.refresh_from_db()
    return placement
