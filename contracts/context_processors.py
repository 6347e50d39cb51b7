from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from contracts.models import Partner
from contracts.selectors import notifications_unread, viewer_partner_id
from core.models import User


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs on every page: the viewer's role, its partner and unread
    notices — for a person. A partner system's API key (a DRF page such as the API docs,
    asked with the key) has no notices and no navigation."""
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {}
    partner_id = viewer_partner_id(user)
    return {
        "nav_role": user.role,
        "nav_partner": Partner.objects.filter(pk=partner_id).first() if partner_id else None,
        "nav_unread": notifications_unread(user=user).count(),
    }
