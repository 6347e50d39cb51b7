"""The landing redirect, and the few helpers every app's web views share.

The helpers live here because core sits below every other app: employees and contracts
can both lean on them without depending on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound, ValidationFailed
from core.permissions import PARTNER_ROLES, has_role
from core.services import user_language_set


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands where its work is."""
    if has_role(request.user, PARTNER_ROLES):
        return redirect("portal")
    return redirect("console")


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language menu: a signed-in person's choice is stored on them (and follows them to
    any browser); anyone's is also kept in the language cookie, which the sign-in page and
    other anonymous pages read."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = ""
    if request.user.is_authenticated:
        try:
            user_language_set(actor=request.user, language=language)
        except ApplicationError as error:
            messages.error(request, error.message)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = redirect(target)
    if language:
        translation.activate(language)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=request.is_secure(),
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response


@require_GET
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponseBase:
    """Browsers ask for /favicon.ico on every site, whatever the page's <link rel="icon">
    says; answered from the static files (the source, so it works before collectstatic)."""
    path = finders.find("core/favicon.ico")
    if not path:
        raise Http404(_("No favicon."))
    return FileResponse(open(path, "rb"), content_type="image/x-icon")


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


T = TypeVar("T")

PAGE_SIZE = 50


def or_404(read: Callable[..., T], **kwargs: Any) -> T:
    """Call a scoped selector; its NotFound (another partner's object, or none) is a 404 page."""
    try:
        return read(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from error


def page_of(request: HttpRequest, items: QuerySet[Any], *, size: int = PAGE_SIZE, param: str = "page") -> Page[Any]:
    # get_page copes with a missing, non-numeric or out-of-range page number.
    return Paginator(items, size).get_page(request.GET.get(param))


def form_error_first(form: Any) -> str:
    """The first error of a form, prefixed by its field's label: what the page says on top."""
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return _("The form is not valid.")


def form_failure(form: Any) -> ValidationFailed:
    """A form's errors in the services' shape, so both kinds of refusal render alike."""
    return ValidationFailed(form_error_first(form), fields={k: list(v) for k, v in form.errors.items()})
