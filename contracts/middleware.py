"""The viewer's time zone, activated for the whole request: a partner member sees times in
the partner's zone (the one its periods are cut in), the platform's people in their own
(User.time_zone, else settings.TIME_ZONE). Templates then format with the `when` filter
(core.templatetags.when), which adds the zone's label."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from contracts.models import PartnerMembership


def viewer_time_zone(user: object) -> str:
    """The IANA name of the zone `user` reads times in."""
    if not getattr(user, "is_authenticated", False):
        return settings.TIME_ZONE
    try:
        membership = user.membership  # type: ignore[attr-defined]
    except PartnerMembership.DoesNotExist:
        membership = None
    if membership is not None:
        return membership.partner.timezone
    return getattr(user, "time_zone", "") or settings.TIME_ZONE


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            # The API is a public contract: its times stay in UTC whoever asks.
            return self.get_response(request)
        try:
            zone = ZoneInfo(viewer_time_zone(request.user))
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(settings.TIME_ZONE)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
