"""The catalog knows what the partner already has: an employee already requested or active
at the partner is shown as such instead of being offered again (split out of
tests/core/test_web_look.py; the tests are unchanged)."""

from __future__ import annotations

from django.urls import reverse

from contracts import services
from contracts.models import Placement
from tests.support.web import browser, text
from tests.support.world import hire


def test_the_catalog_shows_an_employee_already_requested_instead_of_offering_it(world):
    # given Kai requested at Hoshi Mart and Rinna active there
    kai = hire(world, employee="kai", until="requested")
    rinna = hire(world, employee="rinna", until="active")
    client = browser(world.hoshi_member)
    # when a member of Hoshi Mart browses the catalog
    catalog = text(client.get(reverse("catalog")))
    # then each card says where the placement stands
    assert "Requested here" in catalog
    assert "Active here" in catalog
    # and Kai's résumé links to the placement rather than offering a second hire
    resume = text(client.get(reverse("resume", args=["kai"])))
    assert "Hire Kai" not in resume
    assert f'href="{reverse("portal-placement", args=[kai.pk])}"' in resume
    assert '<span class="badge badge-requested">Requested</span>' in resume
    assert reverse("portal-hire", args=["kai"]) not in resume
    rinna_resume = text(client.get(reverse("resume", args=["rinna"])))
    assert f'href="{reverse("portal-placement", args=[rinna.pk])}"' in rinna_resume


def test_another_partner_is_still_offered_the_hire_and_sees_nothing_of_hoshi(world):
    hire(world, employee="kai", until="requested")
    client = browser(world.wayfarer_owner)
    catalog = text(client.get(reverse("catalog")))
    assert "here</span>" not in catalog
    resume = text(client.get(reverse("resume", args=["kai"])))
    assert "Hire Kai" in resume
    assert "/portal/placements/" not in resume


def test_an_ended_placement_offers_the_hire_again(world):
    placement = hire(world, employee="kai", until="active")
    services.placement_end(actor=world.hoshi_owner, placement=placement, reason="Season over")
    assert Placement.objects.get(pk=placement.pk).status == Placement.Status.ENDED
    resume = text(browser(world.hoshi_owner).get(reverse("resume", args=["kai"])))
    assert "Hire Kai" in resume


def test_staff_browsing_the_catalog_are_offered_no_hire_and_no_status(world):
    hire(world, employee="kai", until="requested")
    for user in (world.hoshi_manager, world.finance):
        resume = text(browser(user).get(reverse("resume", args=["kai"])))
        assert "Hire Kai" not in resume
        assert "/portal/placements/" not in resume
