"""The landing redirect, and the few helpers every app's web views share.

The helpers live here because core sits below every other app: employees and contracts
can both lean on them without depending on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from core.errors import ApplicationError
from core.models import User

CONSOLE_ROLES = (User.Role.ACCOUNT_MANAGER, User.Role.FINANCE, User.Role.STAFF)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands where its work is."""
    if request.user.role == User.Role.PARTNER:
        return redirect("portal")
    return redirect("console")


@require_GET
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every site, whatever the page's <link rel="icon">
    says; answered from the static files (the source, so it works before collectstatic)."""
    path = finders.find("core/favicon.ico")
    if not path:
        raise Http404("No favicon.")
    return FileResponse(open(path, "rb"), content_type="image/x-icon")


def console_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in and one of the platform's own roles.

    The console's selectors are scoped, so a partner would only ever see its own data
    there; a 403 is still clearer than a console that looks empty and broken.
    """

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.role not in CONSOLE_ROLES:
            raise DjangoPermissionDenied("The console is for the platform's own staff.")
        return view(request, *args, **kwargs)

    return wrapped


def render_failure(
    request: HttpRequest,
    template: str,
    context: Mapping[str, Any],
    error: ApplicationError,
) -> HttpResponse:
    """Re-render a page after a service refused: its message on top, its status on the
    response, so a browser, a test and a log all see the same verdict."""
    messages.error(request, error.message)
    return render(request, template, {**context, "error_fields": error.fields}, status=error.status)
