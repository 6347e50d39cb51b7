"""The partner portal, the manager console and notifications.

Views are thin: a form checks the input's shape, one service or selector does the work,
a template renders. Every rule and role check is in contracts.services; when a service
refuses, the page is drawn again with its message and its status (400, 403, 404, 409),
and nothing has changed. Objects outside the viewer's scope are 404s, never 403s, so no
one learns that another partner's placement exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext
from django.views.decorators.http import require_POST

from contracts import selectors, services
from contracts.forms import (
    SPLIT_FIELDS,
    TIER_FIELDS,
    ApiKeyCreateForm,
    ContractVersionForm,
    InvitationAcceptForm,
    InvitationForm,
    NoteForm,
    PartnerCreateForm,
    PartnerFilterForm,
    PlacementStatusFilterForm,
    ReasonForm,
    TermsBuilderForm,
    TermsForm,
    row_count,
    rows_remove,
    service_errors_onto,
)
from contracts.models import ContractVersion, Partner, PartnerMembership, Placement
from contracts.terms import terms_describe, terms_validate
from core.errors import ApplicationError, PermissionDenied, ValidationFailed
from core.models import AuditLog, User
from core.permissions import console_required
from core.views import form_failure, or_404, page_of, render_failure
from employees.selectors import employee_list
from employees.views import employee_card, resume_context

S = Placement.Status
V = ContractVersion.Status


# --- shared pieces ----------------------------------------------------------------------


def _placement_or_404(request: HttpRequest, placement_id: int) -> Placement:
    return or_404(selectors.placement_get, viewer=request.user, placement_id=placement_id)


def _version_or_404(request: HttpRequest, placement_id: int, number: int) -> ContractVersion:
    return or_404(selectors.placement_version_get, viewer=request.user, placement_id=placement_id, number=number)


@dataclass(frozen=True)
class TermsLine:
    text: str
    sub: bool  # a tier under the "Tiered share" line


def _describe(terms: dict[str, Any], payee_names: dict[str, str] | None = None) -> list[TermsLine]:
    names = payee_names if payee_names is not None else selectors.payee_names()
    return [TermsLine(text=line.strip(), sub=line.startswith(" ")) for line in terms_describe(terms, payee_names=names)]


@dataclass(frozen=True)
class VersionRow:
    version: ContractVersion
    lines: list[TermsLine]


def _version_rows(versions: Iterable[ContractVersion]) -> list[VersionRow]:
    names = selectors.payee_names()
    return [VersionRow(version=version, lines=_describe(version.terms, names)) for version in versions]


def _change_text(value: Any) -> str:
    # Audit changes are [before, after] pairs, plain values, or whole documents (terms).
    if isinstance(value, list) and len(value) == 2 and not any(isinstance(v, dict | list) for v in value):
        before, after = value
        return f"{'—' if before in (None, '') else before} → {'—' if after in (None, '') else after}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class AuditRow:
    entry: AuditLog
    changes: list[tuple[str, str]]


def _audit_rows(entries: Iterable[AuditLog]) -> list[AuditRow]:
    # "placement" is the notifier's routing key, not a change anyone made; an empty
    # reason or note says nothing either.
    return [
        AuditRow(
            entry=entry,
            changes=[
                (key, _change_text(value))
                for key, value in (entry.changes or {}).items()
                if key != "placement" and value not in ("", None)
            ],
        )
        for entry in entries
    ]


# --- partner portal ---------------------------------------------------------------------


@login_required
def portal_home(request: HttpRequest) -> HttpResponse:
    placements = selectors.placement_list(viewer=request.user)
    awaiting = selectors.contract_versions_awaiting_decision(viewer=request.user)
    return render(
        request,
        "contracts/portal_home.html",
        {
            "placements": [(placement, employee_card(placement.employee)) for placement in placements],
            "awaiting": awaiting,
        },
    )


def _portal_context(request: HttpRequest, placement: Placement, **extra: Any) -> dict[str, Any]:
    role = selectors.membership_role(request.user, placement.partner)
    return {
        "placement": placement,
        "card": employee_card(placement.employee),
        "transitions": placement.transitions.select_related("actor"),
        "versions": _version_rows(selectors.placement_versions(viewer=request.user, placement=placement)),
        "is_member": role is not None,
        "is_owner": role == PartnerMembership.Role.OWNER,
        "can_withdraw": role is not None and placement.status == S.REQUESTED,
        "can_end": (role == PartnerMembership.Role.OWNER and placement.status in (S.APPROVED, S.ACTIVE, S.PAUSED)),
        **extra,
    }


@login_required
def portal_placement(request: HttpRequest, placement_id: int) -> HttpResponse:
    placement = _placement_or_404(request, placement_id)
    return render(request, "contracts/portal_placement.html", _portal_context(request, placement))


@login_required
@require_POST
def portal_hire(request: HttpRequest, slug: str) -> HttpResponse:
    employee = get_object_or_404(employee_list(viewer=request.user), slug=slug)
    form = NoteForm(request.POST)
    note = request.POST.get("note", "")
    context = resume_context(viewer=request.user, employee=employee, note=note)
    if not form.is_valid():
        return render_failure(request, "employees/resume.html", context, form_failure(form))
    try:
        placement = services.placement_request(actor=request.user, employee=employee, note=form.cleaned_data["note"])
    except ApplicationError as error:
        return render_failure(request, "employees/resume.html", context, error)
    messages.success(
        request, _("Your request to hire %(name)s was sent to your account manager.") % {"name": employee.name}
    )
    return redirect("portal-placement", placement.pk)


_PORTAL_PLACEMENT_ACTIONS: dict[str, tuple[Callable[..., Placement], str]] = {
    "withdraw": (services.placement_withdraw, gettext_noop("Your hire request was withdrawn.")),
    "end": (services.placement_end, gettext_noop("The placement has ended.")),
}


@login_required
@require_POST
def portal_placement_action(request: HttpRequest, placement_id: int, action: str) -> HttpResponse:
    return _placement_action(
        request,
        placement_id,
        action,
        _PORTAL_PLACEMENT_ACTIONS,
        _portal_context,
        "contracts/portal_placement.html",
        "portal-placement",
    )


def _placement_action(
    request: HttpRequest,
    placement_id: int,
    action: str,
    actions: dict[str, tuple[Callable[..., Placement], str]],
    context: Callable[..., dict[str, Any]],
    template: str,
    page: str,
) -> HttpResponse:
    """A life-cycle button: the reason form, one service call, the page again on failure."""
    placement = _placement_or_404(request, placement_id)
    service, done = actions[action]
    form = ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise form_failure(form)
        service(actor=request.user, placement=placement, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        return render_failure(request, template, context(request, placement, failed_action=action), error)
    messages.success(request, _(done))
    return redirect(page, placement.pk)


@login_required
@require_POST
def portal_version_action(request: HttpRequest, placement_id: int, number: int, action: str) -> HttpResponse:
    version = _version_or_404(request, placement_id, number)
    form = ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise form_failure(form)
        if action == "accept":
            services.contract_version_accept(actor=request.user, version=version)
            done = _("You accepted the terms (version %(number)s), from %(day)s.") % {
                "number": number,
                "day": date_format(version.effective_from, "DATE_FORMAT"),
            }
        else:
            services.contract_version_reject(actor=request.user, version=version, reason=form.cleaned_data["reason"])
            done = _("You rejected version %(number)s; your account manager has been told why.") % {"number": number}
    except ApplicationError as error:
        placement = _placement_or_404(request, placement_id)
        context = _portal_context(request, placement, failed_action=action, failed_version=number)
        return render_failure(request, "contracts/portal_placement.html", context, error)
    messages.success(request, done)
    return redirect("portal-placement", placement_id)


def _api_keys_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    partner = selectors.viewer_partner(request.user)
    role = selectors.membership_role(request.user, partner) if partner is not None else None
    form = extra.pop("form", None)
    return {
        "partner": partner,
        "keys": selectors.api_key_list(viewer=request.user),
        "is_owner": role == PartnerMembership.Role.OWNER,
        "form": form if form is not None else ApiKeyCreateForm(),
        **extra,
    }


@login_required
def portal_api_keys(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "contracts/portal_api_keys.html", _api_keys_context(request))
    form = ApiKeyCreateForm(request.POST)
    partner = selectors.viewer_partner(request.user)
    try:
        if not form.is_valid():
            raise form_failure(form)
        if partner is None:
            raise PermissionDenied(_("Only a partner's owner can create its API keys."))
        issued = services.api_key_create(actor=request.user, partner=partner, name=form.cleaned_data["name"])
    except ApplicationError as error:
        return render_failure(request, "contracts/portal_api_keys.html", _api_keys_context(request, form=form), error)
    # The secret exists only in this response: no redirect (it would have to be stored to
    # survive one), and no cache may keep a copy.
    response = render(request, "contracts/portal_api_keys.html", _api_keys_context(request, issued=issued), status=201)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def portal_api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = or_404(selectors.api_key_get, viewer=request.user, key_id=key_id)
    try:
        services.api_key_revoke(actor=request.user, key=key)
    except ApplicationError as error:
        return render_failure(request, "contracts/portal_api_keys.html", _api_keys_context(request), error)
    messages.success(
        request,
        _("Key “%(name)s” (%(prefix)s…) is revoked; calls with it now fail.")
        % {"name": key.name, "prefix": key.prefix},
    )
    return redirect("portal-api-keys")


# --- manager console ----------------------------------------------------------------------


@console_required
def console_home(request: HttpRequest) -> HttpResponse:
    form = PlacementStatusFilterForm(request.GET)
    valid = form.is_valid()
    status = form.cleaned_data.get("status") if valid else None
    placements = selectors.placement_list(viewer=request.user, status=status or None)
    return render(
        request,
        "contracts/console_home.html",
        {
            "form": form,
            "waiting": selectors.placement_list(viewer=request.user, status=S.REQUESTED),
            "page": page_of(request, placements),
        },
        status=200 if valid else 400,
    )


def _builder(placement: Placement, data: Any = None, **kwargs: Any) -> TermsBuilderForm:
    return TermsBuilderForm(data, currency=placement.contract.currency, payees=selectors.payee_choices(), **kwargs)


def _preview(placement: Placement, terms: object) -> tuple[list[TermsLine], dict[str, list[str]]]:
    """The partner's reading of `terms`, or the problems by path: the validation the
    services run, without saving anything."""
    try:
        canonical = terms_validate(
            terms, known_payees=selectors.payee_slugs(), required_currency=placement.contract.currency
        )
    except ValidationFailed as error:
        return [], error.fields
    return _describe(canonical), {}


def _console_context(
    request: HttpRequest,
    placement: Placement,
    *,
    terms_form: ContractVersionForm | None = None,
    terms_errors: dict[str, list[str]] | None = None,
    builder: TermsBuilderForm | None = None,
    terms_mode: str = "builder",
    **extra: Any,
) -> dict[str, Any]:
    versions = list(selectors.placement_versions(viewer=request.user, placement=placement))
    open_version = next((v for v in versions if v.status in (V.DRAFT, V.PROPOSED)), None)
    can_manage = selectors.partner_managed_by(viewer=request.user, partner=placement.partner)
    has_contract = hasattr(placement, "contract")
    can_draft = (
        can_manage and has_contract and open_version is None and placement.status in (S.APPROVED, S.ACTIVE, S.PAUSED)
    )
    editing = can_manage and open_version is not None and open_version.status == V.DRAFT
    defaults: dict[str, Any] | None = None
    if can_draft:
        defaults = selectors.contract_draft_defaults(placement=placement)
    elif editing:
        defaults = {"effective_from": open_version.effective_from, "terms": open_version.terms}
    if terms_form is None and defaults is not None:
        terms_form = ContractVersionForm.initial_for(**defaults)
    if builder is None and defaults is not None:
        builder = _builder(placement, terms=defaults["terms"], effective_from=defaults["effective_from"])
    preview: list[TermsLine] = []
    if builder is not None and builder.is_bound and builder.is_valid():
        preview = _preview(placement, builder.to_terms())[0]
    elif builder is not None and not builder.is_bound and defaults is not None:
        preview = _preview(placement, defaults["terms"])[0]
    audit = selectors.audit_for_placement(viewer=request.user, placement=placement)[:200]
    return {
        "placement": placement,
        "card": employee_card(placement.employee),
        "transitions": placement.transitions.select_related("actor"),
        "versions": _version_rows(versions),
        "open_version": open_version,
        "can_manage": can_manage,
        "can_draft": can_draft,
        "editing": editing,
        "terms_form": terms_form if (can_draft or editing) else None,
        "terms_errors": terms_errors or {},
        "builder": builder if (can_draft or editing) else None,
        "builder_preview": preview,
        "terms_mode": terms_mode,
        "audit": _audit_rows(audit),
        **extra,
    }


@console_required
def console_placement(request: HttpRequest, placement_id: int) -> HttpResponse:
    placement = _placement_or_404(request, placement_id)
    return render(request, "contracts/console_placement.html", _console_context(request, placement))


_CONSOLE_PLACEMENT_ACTIONS: dict[str, tuple[Callable[..., Placement], str]] = {
    "approve": (services.placement_approve, gettext_noop("Hire approved. Next: draft the contract terms.")),
    "decline": (services.placement_decline, gettext_noop("Hire request declined.")),
    "pause": (services.placement_pause, gettext_noop("Placement paused.")),
    "resume": (services.placement_resume, gettext_noop("Placement resumed.")),
    "end": (services.placement_end, gettext_noop("Placement ended.")),
}


@console_required
@require_POST
def console_placement_action(request: HttpRequest, placement_id: int, action: str) -> HttpResponse:
    return _placement_action(
        request,
        placement_id,
        action,
        _CONSOLE_PLACEMENT_ACTIONS,
        _console_context,
        "contracts/console_placement.html",
        "console-placement",
    )


def _terms_failure(
    request: HttpRequest, placement: Placement, form: ContractVersionForm, error: ApplicationError
) -> HttpResponse:
    context = _console_context(
        request, placement, terms_form=form, terms_errors=error.fields, failed_action="terms", terms_mode="json"
    )
    return render_failure(request, "contracts/console_placement.html", context, error)


def _builder_submission(request: HttpRequest, placement: Placement) -> tuple[TermsBuilderForm, str]:
    """The builder's form from the post, with a row added or removed when one of its row
    buttons (not "Save") was pressed; and which button it was."""
    action = request.POST.get("builder_action", "save")
    data = request.POST
    tiers, splits = row_count(data, TIER_FIELDS) or 1, row_count(data, SPLIT_FIELDS) or 1
    if action == "add-tier":
        tiers += 1
    elif action == "add-split":
        splits += 1
    elif action.startswith("remove-tier-") and action[12:].isdigit() and tiers > 1:
        data, tiers = rows_remove(data, TIER_FIELDS, int(action[12:])), tiers - 1
    elif action.startswith("remove-split-") and action[13:].isdigit() and splits > 1:
        data, splits = rows_remove(data, SPLIT_FIELDS, int(action[13:])), splits - 1
    return _builder(placement, data, tiers=tiers, splits=splits), action


def _terms_save(
    request: HttpRequest, placement: Placement, save: Callable[..., ContractVersion], done: str
) -> HttpResponse:
    """Both ways of writing terms: the builder's fields or the JSON textarea. Either ends in
    the same service call with the same kind of dict, so both store the same terms."""
    if request.POST.get("mode") != "builder":
        form = ContractVersionForm(request.POST)
        try:
            if not form.is_valid():
                raise form_failure(form)
            version = save(terms=form.cleaned_data["terms"], effective_from=form.cleaned_data["effective_from"])
        except ApplicationError as error:
            return _terms_failure(request, placement, form, error)
        messages.success(request, _(done).format(number=version.number))
        return redirect("console-placement", placement.pk)
    builder, action = _builder_submission(request, placement)
    if action != "save":
        # A row added or removed, or a preview asked for: the form again, nothing saved.
        return render(
            request, "contracts/console_placement.html", _console_context(request, placement, builder=builder)
        )
    try:
        if not builder.is_valid():
            raise form_failure(builder)
        terms = builder.to_terms()
        if builder.errors:  # an amount finer than the currency's minor unit
            raise form_failure(builder)
        version = save(terms=terms, effective_from=builder.cleaned_data["effective_from"])
    except ApplicationError as error:
        if error.fields and builder.is_bound and not builder.errors:
            builder.add_terms_errors(error.fields)
        context = _console_context(request, placement, builder=builder, failed_action="terms")
        return render_failure(request, "contracts/console_placement.html", context, error)
    messages.success(request, _(done).format(number=version.number))
    return redirect("console-placement", placement.pk)


@console_required
@require_POST
def console_terms_draft(request: HttpRequest, placement_id: int) -> HttpResponse:
    placement = _placement_or_404(request, placement_id)

    def save(*, terms: object, effective_from: Any) -> ContractVersion:
        return services.contract_version_draft(
            actor=request.user, placement=placement, terms=terms, effective_from=effective_from
        )

    return _terms_save(
        request, placement, save, gettext_noop("Draft version {number} saved. Send it to the partner when ready.")
    )


@console_required
@require_POST
def console_version_update(request: HttpRequest, placement_id: int, number: int) -> HttpResponse:
    version = _version_or_404(request, placement_id, number)

    def save(*, terms: object, effective_from: Any) -> ContractVersion:
        return services.contract_version_update(
            actor=request.user, version=version, terms=terms, effective_from=effective_from
        )

    return _terms_save(
        request, _placement_or_404(request, placement_id), save, gettext_noop("Draft version {number} updated.")
    )


@console_required
@require_POST
def console_terms_check(request: HttpRequest, placement_id: int) -> HttpResponse:
    """htmx: check the textarea's terms without saving anything. The answer is a fragment
    for the form: 200 with the plain-language reading, or 422 with the problems by path
    (base.html tells htmx to swap 422 answers in, so the manager sees why)."""
    placement = _placement_or_404(request, placement_id)
    if not hasattr(placement, "contract"):
        raise Http404(_("This placement has no contract yet."))
    context: dict[str, Any] = {"errors": {}, "lines": []}
    if request.POST.get("mode") == "builder":
        builder, _form_errors = _builder_submission(request, placement)
        terms = builder.to_terms() if builder.is_valid() else None
        if terms is None or builder.errors:
            context["errors"] = {field: list(errors) for field, errors in builder.errors.items()}
        else:
            context["lines"], context["errors"] = _preview(placement, terms)
    else:
        form = TermsForm(request.POST)
        if not form.is_valid():
            context["errors"] = {"terms": list(form.errors.get("terms", []))}
        else:
            context["lines"], context["errors"] = _preview(placement, form.cleaned_data["terms"])
    return render(request, "contracts/_terms_check.html", context, status=422 if context["errors"] else 200)


_CONSOLE_VERSION_ACTIONS: dict[str, str] = {
    "propose": gettext_noop("Version {number} was sent to {partner} for their decision."),
    "withdraw": gettext_noop("Version {number} was withdrawn."),
}


@console_required
@require_POST
def console_version_action(request: HttpRequest, placement_id: int, number: int, action: str) -> HttpResponse:
    version = _version_or_404(request, placement_id, number)
    form = ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise form_failure(form)
        if action == "propose":
            services.contract_version_propose(actor=request.user, version=version)
        else:
            services.contract_version_withdraw(actor=request.user, version=version, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        placement = _placement_or_404(request, placement_id)
        context = _console_context(request, placement, failed_action=action, failed_version=number)
        return render_failure(request, "contracts/console_placement.html", context, error)
    partner = version.contract.placement.partner.name
    messages.success(request, _(_CONSOLE_VERSION_ACTIONS[action]).format(number=number, partner=partner))
    return redirect("console-placement", placement_id)


@console_required
def console_audit(request: HttpRequest) -> HttpResponse:
    form = PartnerFilterForm(request.GET, partners=selectors.partners_visible(viewer=request.user))
    valid = form.is_valid()
    partner = form.cleaned_data.get("partner") if valid else None
    page = page_of(request, selectors.audit_list(viewer=request.user, partner=partner))
    return render(
        request,
        "contracts/console_audit.html",
        {
            "form": form,
            "page": page,
            "rows": _audit_rows(page.object_list),
        },
        status=200 if valid else 400,
    )


# --- notifications ------------------------------------------------------------------------


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    page = page_of(request, selectors.notification_list(user=request.user))
    return render(request, "contracts/notifications.html", {"page": page})


@login_required
@require_POST
def notifications_mark_read(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_read(user=request.user)
    messages.success(
        request,
        ngettext("Marked %(count)s notification as read.", "Marked %(count)s notifications as read.", count)
        % {"count": count},
    )
    return redirect("notifications")


# --- partner organisations, their people and invitations -----------------------------------


def _partner_or_404(request: HttpRequest, partner_id: int) -> Partner:
    return or_404(selectors.partner_by_id, viewer=request.user, partner_id=partner_id)


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _partner_create_form(request: HttpRequest, data: Any = None) -> PartnerCreateForm | None:
    role = request.user.role
    if role == User.Role.STAFF or request.user.is_superuser:
        return PartnerCreateForm(data, managers=selectors.account_managers())
    if role == User.Role.ACCOUNT_MANAGER:
        return PartnerCreateForm(data)
    return None  # finance reads the list; creating partners is the managers' work


@console_required
def console_partners(request: HttpRequest) -> HttpResponse:
    form = _partner_create_form(request, request.POST if request.method == "POST" else None)

    def page(status: int = 200, error: ApplicationError | None = None) -> HttpResponse:
        partners = selectors.partners_visible(viewer=request.user).select_related("account_manager")
        context = {"form": form, "page": page_of(request, partners.order_by("name", "pk"))}
        if error is not None:
            return render_failure(request, "contracts/console_partners.html", context, error)
        return render(request, "contracts/console_partners.html", context, status=status)

    if request.method != "POST":
        return page()
    if form is None:
        return page(
            error=PermissionDenied(
                _("Only account managers and the platform's staff can create partner organisations.")
            )
        )
    if not form.is_valid():
        return page(error=form_failure(form))
    try:
        data = form.cleaned_data
        onboarded = services.partner_onboard(
            actor=request.user,
            slug=data["slug"],
            name=data["name"],
            industry=data["industry"],
            currency=data["currency"],
            timezone_name=data["timezone"],
            account_manager=data.get("account_manager"),
            owner_email=data["owner_email"],
            owner_name=data["owner_name"],
            site_url=_site_url(request),
        )
    except ApplicationError as error:
        service_errors_onto(form, error.fields)
        return page(error=error)
    messages.success(
        request,
        _("%(partner)s is set up; %(email)s was sent an invitation to be its owner.")
        % {"partner": onboarded.partner.name, "email": onboarded.owner_invitation.email},
    )
    return redirect("console-partner", onboarded.partner.pk)


def _people_context(request: HttpRequest, partner: Partner, form: InvitationForm | None = None) -> dict[str, Any]:
    can_invite = selectors.may_invite(viewer=request.user, partner=partner)
    return {
        "partner": partner,
        "members": selectors.partner_members(viewer=request.user, partner=partner),
        "invitations": selectors.invitation_list(viewer=request.user, partner=partner)[:100],
        "can_invite": can_invite,
        "invite_form": (form or InvitationForm()) if can_invite else None,
    }


def _invite(
    request: HttpRequest, partner: Partner, template: str, context: Callable[..., dict[str, Any]], done: str, *args: Any
) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return render_failure(request, template, context(request, partner, form), form_failure(form))
    try:
        invitation = services.invitation_send(
            actor=request.user,
            partner=partner,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            name=form.cleaned_data["name"],
            site_url=_site_url(request),
        )
    except ApplicationError as error:
        service_errors_onto(form, error.fields)
        return render_failure(request, template, context(request, partner, form), error)
    messages.success(
        request,
        _("An invitation was sent to %(email)s; the link works until %(until)s UTC.")
        % {"email": invitation.email, "until": f"{invitation.expires_at:%Y-%m-%d %H:%M}"},
    )
    return redirect(done, *args)


@console_required
def console_partner(request: HttpRequest, partner_id: int) -> HttpResponse:
    partner = _partner_or_404(request, partner_id)
    if request.method == "POST":
        return _invite(
            request, partner, "contracts/console_partner.html", _people_context, "console-partner", partner.pk
        )
    return render(request, "contracts/console_partner.html", _people_context(request, partner))


@login_required
def portal_members(request: HttpRequest) -> HttpResponse:
    partner = selectors.viewer_partner(request.user)
    if partner is None:
        raise Http404(_("You do not belong to a partner organisation."))
    if request.method == "POST":
        return _invite(request, partner, "contracts/portal_members.html", _people_context, "portal-members")
    return render(request, "contracts/portal_members.html", _people_context(request, partner))


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = or_404(selectors.invitation_get, viewer=request.user, invitation_id=invitation_id)
    in_portal = selectors.viewer_partner_id(request.user) is not None
    template = "contracts/portal_members.html" if in_portal else "contracts/console_partner.html"
    try:
        services.invitation_revoke(actor=request.user, invitation=invitation)
    except ApplicationError as error:
        return render_failure(request, template, _people_context(request, invitation.partner), error)
    messages.success(
        request, _("The invitation of %(email)s is withdrawn; its link no longer works.") % {"email": invitation.email}
    )
    return redirect("portal-members") if in_portal else redirect("console-partner", invitation.partner_id)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: choose a user name and password, and land signed in. Public —
    the token is the credential — so it answers the same to everyone, signed in or not."""
    try:
        invitation = services.invitation_for_token(token=token)
    except ApplicationError as error:
        response = render(request, "contracts/invitation_accept.html", {"refusal": error}, status=error.status)
        add_never_cache_headers(response)
        return response
    form = InvitationAcceptForm(
        request.POST if request.method == "POST" else None, initial={"username": invitation.email.split("@", 1)[0]}
    )
    context = {"invitation": invitation, "form": form}
    if request.method == "POST":
        try:
            if not form.is_valid():
                raise form_failure(form)
            user = services.invitation_accept(
                token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
        except ApplicationError as error:
            if form.is_valid():  # the service refused: its per-field reasons beside the fields
                service_errors_onto(form, error.fields)
            if not error.fields:
                context = {"refusal": error}  # the link itself can no longer be used
            response = render_failure(request, "contracts/invitation_accept.html", context, error)
            add_never_cache_headers(response)
            return response
        login(request, user, backend="core.auth_backends.LockoutModelBackend")
        messages.success(
            request,
            _("Welcome to %(partner)s, %(username)s: you are signed in.")
            % {"partner": invitation.partner.name, "username": user.username},
        )
        return redirect("portal")
    response = render(request, "contracts/invitation_accept.html", context)
    add_never_cache_headers(response)
    return response
