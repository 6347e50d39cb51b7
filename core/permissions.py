"""Who may do what, written once per role: a view decorator, a DRF permission and a
service guard for each, so every app checks a role the same way and says the same thing
when it refuses.

Roles live on the user (core.User.Role), which is why these sit in core, below every app:
a partner member is a user whose role is `partner` (its organisation is contracts'
business; selectors scope what it sees).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from core.errors import PermissionDenied
from core.models import User

PARTNER_ROLES: tuple[str, ...] = (User.Role.PARTNER,)
CONSOLE_ROLES: tuple[str, ...] = (User.Role.ACCOUNT_MANAGER, User.Role.FINANCE, User.Role.STAFF)
FINANCE_ROLES: tuple[str, ...] = (User.Role.FINANCE, User.Role.STAFF)

# Any response: a page, a redirect, a streamed CSV export.
View = Callable[..., HttpResponseBase]


def has_role(user: Any, roles: Collection[str]) -> bool:
    """True for a signed-in person holding one of `roles`; an API key or anonymous user has none."""
    return bool(getattr(user, "is_authenticated", False)) and getattr(user, "role", None) in roles


def role_required(roles: Collection[str], *, refusal: str) -> Callable[[View], View]:
    """A view decorator: signed in (else the login page) and holding one of `roles` (else 403
    with `refusal`)."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has_role(request.user, roles):
                raise DjangoPermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# The portal's pages speak for one partner; the platform's own people read the same
# figures in the console.
partner_required = role_required(PARTNER_ROLES, refusal="These portal pages are for partner members; use the console.")
# The console's selectors are scoped, so a partner would only ever see its own data there;
# a 403 is still clearer than a console that looks empty and broken.
console_required = role_required(CONSOLE_ROLES, refusal="The console is for the platform's own staff.")
finance_required = role_required(FINANCE_ROLES, refusal="The finance console is for finance.")


def api_person(request: Request) -> User:
    """The person acting through the API. Writes are done by people; a partner system's
    API key (request.user is then not a User) may only read."""
    if not isinstance(request.user, User):
        raise PermissionDenied(_("This action needs a person signed in; API keys may only read it."))
    return request.user


def role_require(actor: Any, roles: Collection[str], *, who: str, doing: str) -> None:
    """The services' guard: raise the application's PermissionDenied (403 in the API, the
    same message on a page) unless `actor` holds one of `roles`."""
    if getattr(actor, "role", None) not in roles:
        raise PermissionDenied(_("Only %(who)s can %(doing)s.") % {"who": who, "doing": doing})


def finance_require(actor: Any, *, doing: str) -> None:
    role_require(actor, FINANCE_ROLES, who="finance", doing=doing)


class _RolePermission(BasePermission):
    """DRF's side of a role: the acting person (an API key is refused with api_person's
    message) must hold one of `roles`, else the application's PermissionDenied — with the
    view's own `role_refusal` when it says more than the default. Raised rather than
    returned False, so the answer carries our error shape and message."""

    roles: tuple[str, ...] = ()
    refusal = "You may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        actor = api_person(request)
        if not has_role(actor, self.roles):
            raise PermissionDenied(getattr(view, "role_refusal", self.refusal))
        return True


class IsPartnerMember(_RolePermission):
    roles = PARTNER_ROLES
    refusal = "This is for partner members."


class IsConsoleUser(_RolePermission):
    roles = CONSOLE_ROLES
    refusal = "This is for the platform's own staff."


class IsFinance(_RolePermission):
    roles = FINANCE_ROLES
    refusal = "Only finance can do this."
