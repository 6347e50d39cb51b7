"""The portal's webhooks page: endpoints, their secrets (shown once), the delivery log with
Replay. Thin: a form checks the shape, one service or selector does the work; when a
service refuses, the page is drawn again with its message and status, nothing changed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from contracts.models import PartnerMembership
from contracts.selectors import membership_role, viewer_partner
from core.errors import ApplicationError, PermissionDenied
from core.models import User
from core.permissions import partner_required
from core.views import form_failure, or_404, page_of, render_failure
from webhooks import selectors, services
from webhooks.forms import DeliveryFilterForm, EndpointCreateForm

TEMPLATE = "webhooks/portal_webhooks.html"


def _person(request: HttpRequest) -> User:
    """The signed-in person (partner_required let only a partner member through)."""
    assert isinstance(request.user, User)
    return request.user


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    partner = viewer_partner(request.user)
    role = membership_role(request.user, partner) if partner is not None else None
    filters = DeliveryFilterForm(request.GET)
    status = filters.cleaned_data.get("status") if filters.is_valid() else None
    form = extra.pop("form", None)
    return {
        "partner": partner,
        "is_owner": role == PartnerMembership.Role.OWNER,
        "endpoints": selectors.endpoint_list(viewer=request.user),
        "page": page_of(request, selectors.delivery_list(viewer=request.user, status=status or None)),
        "filters": filters,
        "form": form if form is not None else EndpointCreateForm(),
        **extra,
    }


def _with_secret(request: HttpRequest, issued: services.IssuedEndpoint, status: int) -> HttpResponse:
    # The secret exists only in this response: no redirect (it would have to be stored to
    # survive one), and no cache may keep a copy.
    response = render(request, TEMPLATE, _context(request, issued=issued), status=status)
    add_never_cache_headers(response)
    return response


@partner_required
def portal_webhooks(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    form = EndpointCreateForm(request.POST)
    partner = viewer_partner(request.user)
    try:
        if not form.is_valid():
            raise form_failure(form)
        if partner is None:
            raise PermissionDenied(_("Only a partner's owner can add webhook endpoints."))
        issued = services.webhook_endpoint_create(
            actor=_person(request),
            partner=partner,
            url=form.cleaned_data["url"],
            description=form.cleaned_data["description"],
            event_types=form.cleaned_data["event_types"],
        )
    except ApplicationError as error:
        return render_failure(request, TEMPLATE, _context(request, form=form), error)
    return _with_secret(request, issued, 201)


@partner_required
@require_POST
def portal_webhook_endpoint_action(request: HttpRequest, endpoint_id: int, action: str) -> HttpResponse:
    endpoint = or_404(selectors.endpoint_get, viewer=request.user, endpoint_id=endpoint_id)
    try:
        if action == "rotate":
            issued = services.webhook_endpoint_secret_rotate(actor=_person(request), endpoint=endpoint)
            return _with_secret(request, issued, 200)
        if action == "disable":
            services.webhook_endpoint_disable(actor=_person(request), endpoint=endpoint)
            done = _("%(url)s is disabled: no events go to it until you enable it.") % {"url": endpoint.url}
        else:
            services.webhook_endpoint_enable(actor=_person(request), endpoint=endpoint)
            done = _("%(url)s is enabled again. Replay any deliveries it missed.") % {"url": endpoint.url}
    except ApplicationError as error:
        return render_failure(request, TEMPLATE, _context(request), error)
    messages.success(request, done)
    return redirect("portal-webhooks")


@partner_required
@require_POST
def portal_webhook_delivery_replay(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = or_404(selectors.delivery_get, viewer=request.user, delivery_id=delivery_id)
    try:
        replay = services.webhook_delivery_replay(actor=_person(request), delivery=delivery)
    except ApplicationError as error:
        return render_failure(request, TEMPLATE, _context(request), error)
    messages.success(
        request,
        _("%(event)s is queued again (delivery #%(number)s).")
        % {"event": delivery.event.public_id, "number": replay.pk},
    )
    return redirect("portal-webhooks")


@csrf_exempt
@require_POST
def dev_webhook_receiver(request: HttpRequest) -> HttpResponse:
    """The run command's stand-in for a partner's own system, so the demo's deliveries land
    somewhere real: it checks the signature as a receiver should, against the endpoints
    registered with this very URL, and answers 204, or 400 when nothing signed it. Only with
    DEBUG (the run command); a 404 anywhere else."""
    if not settings.DEBUG:
        raise Http404
    signed = selectors.signature_matches_endpoint(
        url=request.build_absolute_uri(), body=request.body, header=request.headers.get("Haken-Signature", "")
    )
    return HttpResponse(status=204 if signed else 400)
