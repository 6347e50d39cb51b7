"""Sign-in with a lockout after repeated failures (core.services.login_*).

Every password sign-in goes through here — the login page and the Django admin's — so no
form can bypass the count. `force_login` (tests) and sessions never authenticate again."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _

from core.models import User
from core.services import login_failure_record, login_lock_check, login_success_record


def client_address(request: HttpRequest | None) -> str | None:
    """The peer's address as the WSGI server saw it. Behind a proxy that is the proxy; the
    deployment's proxy should then limit sign-in attempts itself (README, Security)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


class LockoutModelBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(self._username_field())
        if username is None or password is None:
            return None
        address = client_address(request)
        if login_lock_check(username=username, address=address) is not None:
            # PermissionDenied stops authenticate() from trying any other backend.
            raise PermissionDenied(_("Sign-in is locked after repeated failures."))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username, address=address)
        else:
            login_success_record(username=username)
        return user

    def _username_field(self) -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
