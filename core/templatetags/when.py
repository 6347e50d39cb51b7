"""`{{ value|when }}`: an instant in the viewer's time zone, with the zone's name beside it.

Which zone is "the viewer's" is decided once per request (contracts.middleware activates
the partner's zone for its members, the user's own for the platform's people); this filter
only formats, so every page labels its times the same way. It is a builtin (settings
TEMPLATES), so templates use it without `{% load %}`.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()


def zone_label(moment: datetime) -> str:
    """The zone's abbreviation (JST, CET, EST) where it has a lettered one; its IANA name
    where the abbreviation is only an offset ("+07"), which says nothing to a reader."""
    abbreviation = moment.tzname() or ""
    if abbreviation and abbreviation[0] not in "+-" and not abbreviation[0].isdigit():
        return abbreviation
    return str(timezone.get_current_timezone_name())


@register.filter(is_safe=True)
def when(value: datetime | None, fmt: str = "DATETIME_FORMAT") -> str:
    """`fmt` is a format string or the name of a localized one (DATETIME_FORMAT, the default:
    2026-12-07 17:00 in English, 2026年12月7日 17:00 in Japanese; config/formats)."""
    if not isinstance(value, datetime):
        return ""
    moment = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>',
        value.isoformat(),
        timezone.get_current_timezone_name(),
        date_format(moment, fmt),
        zone_label(moment),
    )
