"""Every time a person reads is in their zone, labelled: a partner's members read the
partner's zone, the platform's people their own (User.time_zone, else TIME_ZONE). Known UTC
instants go in through the real services; the pages must show them converted, with the label."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from agents import services as agent_services
from agents.models import Conversation, Message
from contracts.models import PlacementTransition
from tests.support.web import browser, text
from tests.support.world import hire

# 03:01 UTC on 3 October 2026: 12:01 in Tokyo (JST), 23:01 the day before in New York (EDT).
INSTANT = datetime(2026, 10, 3, 3, 1, tzinfo=UTC)


@pytest.fixture
def placement(world):
    placement = hire(world)
    PlacementTransition.objects.filter(placement=placement).update(at=INSTANT)
    return placement


def test_a_partner_reads_its_placement_history_in_its_own_zone_labelled(world, placement):
    response = browser(world.hoshi_owner).get(reverse("portal-placement", args=[placement.pk]))
    page = text(response)
    assert response.status_code == 200
    assert '<time datetime="2026-10-03T03:01:00+00:00" title="Asia/Tokyo">2026-10-03 12:01 JST</time>' in page
    assert "03:01 UTC" not in page and ">2026-10-03 03:01" not in page


def test_the_account_manager_reads_the_console_in_their_own_zone(world, placement):
    manager = world.hoshi_manager
    manager.time_zone = "America/New_York"
    manager.save(update_fields=["time_zone"])
    page = text(browser(manager).get(reverse("console-placement", args=[placement.pk])))
    assert '<time datetime="2026-10-03T03:01:00+00:00" title="America/New_York">2026-10-02 23:01 EDT</time>' in page


def test_staff_without_a_zone_read_the_servers_labelled_utc(world, placement):
    page = text(browser(world.staff).get(reverse("console-placement", args=[placement.pk])))
    assert "2026-10-03 03:01 UTC" in page


def test_a_conversation_transcript_shows_message_times_in_the_partners_zone(world):
    placement = hire(world)
    started = agent_services.conversation_start(
        placement=placement, channel=Conversation.Channel.PORTAL, text="Hello", actor=world.hoshi_owner
    )
    Message.objects.filter(pk=started.message.pk).update(created_at=INSTANT)
    Conversation.objects.filter(pk=started.conversation.pk).update(created_at=INSTANT)
    page = text(browser(world.hoshi_owner).get(reverse("portal-conversation", args=[started.conversation.pk])))
    assert '<time datetime="2026-10-03T03:01:00+00:00" title="Asia/Tokyo">12:01 JST</time>' in page


def test_a_zone_without_a_lettered_abbreviation_is_labelled_by_its_name():
    with timezone.override("Asia/Ho_Chi_Minh"):  # its abbreviation is only "+07"
        rendered = Template("{{ at|when }}").render(Context({"at": INSTANT}))
    assert rendered == (
        '<time datetime="2026-10-03T03:01:00+00:00" title="Asia/Ho_Chi_Minh">2026-10-03 10:01 Asia/Ho_Chi_Minh</time>'
    )


def test_nothing_to_show_renders_nothing():
    assert Template("{{ at|when }}").render(Context({"at": None})) == ""
