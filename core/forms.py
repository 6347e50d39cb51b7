from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from core.auth_backends import client_address
from core.services import login_lock_check


class LoginForm(AuthenticationForm):
    """The sign-in form, saying plainly when sign-in is locked rather than "wrong password"."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _(
            "Too many failed sign-in attempts. Sign-in is locked for %(minutes)s more minute(s); try again later."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username and self.cleaned_data.get("password"):
            lock = login_lock_check(username=username, address=client_address(self.request))
            if lock is not None:
                raise self._locked_error(lock.minutes_left)
        try:
            return super().clean()
        except forms.ValidationError:
            # This failure may have been the one that locked sign-in: say so now.
            if username:
                lock = login_lock_check(username=username, address=client_address(self.request))
                if lock is not None:
                    raise self._locked_error(lock.minutes_left) from None
            raise

    def _locked_error(self, minutes: int) -> forms.ValidationError:
        return forms.ValidationError(self.error_messages["locked"], code="locked", params={"minutes": minutes})
