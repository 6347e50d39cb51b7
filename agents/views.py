"""Web pages of the agents app: the partner's chat with its employees (htmx: the reply
appears without reloading), knowledge (catalog, documents, offers), the widget's settings,
the copy review queue, transcripts for the partner and its account manager, and the
economics of each placement and employee.

Thin, as the other apps' views: one selector reads or one service writes; a refusal is
drawn again with its message and status, and nothing has changed."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from agents import selectors, services
from agents.models import Conversation, CopyDraft, Message
from contracts.models import Placement
from contracts.selectors import placement_get, placement_list, viewer_partner_id
from core.errors import ApplicationError, ValidationFailed
from core.permissions import console_required
from core.views import or_404, render_failure

POLL_DELAY = "1s"


def _partner_member(request: HttpRequest) -> None:
    if viewer_partner_id(request.user) is None:
        raise DjangoPermissionDenied("These portal pages are for partner members; use the console.")


def _failure(request: HttpRequest, error: ApplicationError, template: str, context: dict[str, Any]) -> HttpResponse:
    if request.htmx:
        # 422 is swapped by htmx (base.html's responseHandling): the form shows the reason.
        return render(request, "agents/_form_error.html", {"error": error}, status=422)
    return render_failure(request, template, context, error)


# --- the portal's home for employees at work -------------------------------------------------


@login_required
def portal_agents(request: HttpRequest) -> HttpResponse:
    _partner_member(request)
    placements = placement_list(viewer=request.user).exclude(status=Placement.Status.ENDED)
    return render(
        request,
        "agents/portal_agents.html",
        {
            "placements": placements,
            "conversations": selectors.conversation_list(viewer=request.user)[:10],
            "escalated": selectors.conversation_list(viewer=request.user).filter(status=Conversation.Status.ESCALATED)[
                :50
            ],
            "pending_drafts": selectors.copy_drafts(viewer=request.user, status="pending").count(),
        },
    )


# --- chat -------------------------------------------------------------------------------------


def _chat_context(request: HttpRequest, placement: Placement) -> dict[str, Any]:
    return {
        "placement": placement,
        "conversations": selectors.conversation_list(viewer=request.user, placement=placement)[:50],
        "max_chars": services.max_message_chars(),
    }


@login_required
def portal_chat(request: HttpRequest, placement_id: int) -> HttpResponse:
    """The placement's conversations; POST starts a new one with its first message."""
    _partner_member(request)
    placement = or_404(placement_get, viewer=request.user, placement_id=placement_id)
    if request.method != "POST":
        return render(request, "agents/portal_chat.html", _chat_context(request, placement))
    try:
        started = services.conversation_start(
            placement=placement,
            channel=Conversation.Channel.PORTAL,
            text=request.POST.get("message", ""),
            actor=request.user,
        )
    except ApplicationError as error:
        return _failure(request, error, "agents/portal_chat.html", _chat_context(request, placement))
    return redirect("portal-conversation", conversation_id=started.conversation.pk)


def _conversation_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "placement": conversation.placement,
        "messages_": selectors.transcript(conversation=conversation),
        "max_chars": services.max_message_chars(),
        "poll_delay": POLL_DELAY,
        "in_portal": viewer_partner_id(request.user) is not None,
        "can_write": viewer_partner_id(request.user) is not None
        and conversation.channel == Conversation.Channel.PORTAL,
    }


@login_required
def portal_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    _partner_member(request)
    conversation = or_404(selectors.conversation_get, viewer=request.user, conversation_id=conversation_id)
    return render(request, "agents/conversation.html", _conversation_context(request, conversation))


@login_required
@require_POST
def portal_conversation_post(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """htmx: the member's message and a placeholder that polls for the employee's reply."""
    _partner_member(request)
    conversation = or_404(selectors.conversation_get, viewer=request.user, conversation_id=conversation_id)
    try:
        message = services.message_post(
            conversation=conversation, text=request.POST.get("message", ""), actor=request.user
        )
    except ApplicationError as error:
        return _failure(request, error, "agents/conversation.html", _conversation_context(request, conversation))
    if not request.htmx:
        return redirect("portal-conversation", conversation_id=conversation.pk)
    return render(
        request, "agents/_exchange.html", {"message": message, "reply": None, "poll_delay": POLL_DELAY}, status=201
    )


@login_required
@require_POST
def portal_conversation_takeover(request: HttpRequest, conversation_id: int, action: str) -> HttpResponse:
    """A member answers an escalated conversation in person, or hands it back."""
    _partner_member(request)
    conversation = or_404(selectors.conversation_get, viewer=request.user, conversation_id=conversation_id)
    try:
        if action == "reply":
            services.conversation_human_reply(
                actor=request.user, conversation=conversation, text=request.POST.get("message", "")
            )
        else:
            services.conversation_hand_back(actor=request.user, conversation=conversation)
            messages.success(
                request, _("%(name)s has the conversation again.") % {"name": conversation.placement.employee.name}
            )
    except ApplicationError as error:
        return render_failure(request, "agents/conversation.html", _conversation_context(request, conversation), error)
    return redirect("portal-conversation", conversation_id=conversation.pk)


@login_required
def message_reply(request: HttpRequest, message_id: int) -> HttpResponse:
    """htmx polling: the reply once the worker made it; until then the placeholder again."""
    message = Message.objects.filter(pk=message_id, role=Message.Role.USER).select_related("conversation").first()
    if message is None:
        raise Http404(_("No such message."))
    or_404(selectors.conversation_get, viewer=request.user, conversation_id=message.conversation_id)
    reply = selectors.reply_for(message=message)
    if reply is None:
        return render(request, "agents/_reply_pending.html", {"message": message, "poll_delay": POLL_DELAY})
    return render(request, "agents/_message.html", {"m": reply})


# --- knowledge ------------------------------------------------------------------------------


def _knowledge_context(request: HttpRequest, placement_id: int, **extra: Any) -> dict[str, Any]:
    return {**or_404(selectors.placement_knowledge, viewer=request.user, placement_id=placement_id), **extra}


@login_required
def portal_knowledge(request: HttpRequest, placement_id: int) -> HttpResponse:
    _partner_member(request)
    return render(request, "agents/portal_knowledge.html", _knowledge_context(request, placement_id))


def _upload(request: HttpRequest) -> tuple[bytes, str]:
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed(_("Choose a file to upload."), fields={"file": ["Required."]})
    if upload.size > services.MAX_CATALOG_BYTES:
        raise ValidationFailed(_("The file is too large."), fields={"file": ["Too large."]})
    return upload.read(), upload.name or ""


@login_required
@require_POST
def portal_knowledge_action(request: HttpRequest, placement_id: int, action: str) -> HttpResponse:
    _partner_member(request)
    placement = or_404(placement_get, viewer=request.user, placement_id=placement_id)
    try:
        if action == "catalog":
            content, name = _upload(request)
            count = services.catalog_upload(actor=request.user, placement=placement, content=content, filename=name)
            messages.success(request, _("Catalog replaced: %(count)s products.") % {"count": count})
        elif action == "documents":
            content, name = _upload(request)
            document = services.document_upload(
                actor=request.user,
                placement=placement,
                content=content,
                filename=name,
                title=request.POST.get("title", ""),
            )
            messages.success(request, _("“%(title)s” is in the knowledge base.") % {"title": document.title})
        else:  # offers
            try:
                percent = int(request.POST.get("percent_off", ""))
            except ValueError:
                percent = 0
            offer = services.offer_create(
                actor=request.user,
                placement=placement,
                title=request.POST.get("title", ""),
                percent_off=percent,
                code_prefix=request.POST.get("code_prefix", ""),
                tags=request.POST.get("tags", "").replace(";", ",").split(","),
            )
            messages.success(request, _("Offer “%(title)s” added.") % {"title": offer.title})
    except ApplicationError as error:
        rows = getattr(error, "rows", None)
        return render_failure(
            request,
            "agents/portal_knowledge.html",
            _knowledge_context(request, placement_id, failed=action, rejected_rows=rows),
            error,
        )
    return redirect("portal-knowledge", placement_id=placement.pk)


@login_required
@require_POST
def portal_document_delete(request: HttpRequest, placement_id: int, document_id: int) -> HttpResponse:
    _partner_member(request)
    knowledge = _knowledge_context(request, placement_id)
    document = knowledge["documents"].filter(pk=document_id).first()
    if document is None:
        raise Http404(_("No such document."))
    try:
        services.document_delete(actor=request.user, document=document)
    except ApplicationError as error:
        return render_failure(request, "agents/portal_knowledge.html", knowledge, error)
    messages.success(request, _("“%(title)s” removed from the knowledge base.") % {"title": document.title})
    return redirect("portal-knowledge", placement_id=placement_id)


# --- the widget -------------------------------------------------------------------------------


def _widget_context(request: HttpRequest, placement_id: int) -> dict[str, Any]:
    knowledge = or_404(selectors.placement_knowledge, viewer=request.user, placement_id=placement_id)
    widget = knowledge["widget"]
    origin = f"{request.scheme}://{request.get_host()}"
    return {
        "placement": knowledge["placement"],
        "widget": widget,
        "platform_origin": origin,
        "preview": widget is not None and origin.lower() in widget.allowed_origins,
    }


@login_required
def portal_widget(request: HttpRequest, placement_id: int) -> HttpResponse:
    _partner_member(request)
    if request.method != "POST":
        return render(request, "agents/portal_widget.html", _widget_context(request, placement_id))
    placement = or_404(placement_get, viewer=request.user, placement_id=placement_id)
    try:
        services.widget_configure(
            actor=request.user, placement=placement, allowed_origins=request.POST.get("allowed_origins", "")
        )
    except ApplicationError as error:
        return render_failure(request, "agents/portal_widget.html", _widget_context(request, placement_id), error)
    messages.success(request, _("Widget settings saved."))
    return redirect("portal-widget", placement_id=placement.pk)


@login_required
@require_POST
def portal_widget_rotate(request: HttpRequest, placement_id: int) -> HttpResponse:
    _partner_member(request)
    context = _widget_context(request, placement_id)
    if context["widget"] is None:
        raise Http404(_("This placement has no widget yet."))
    try:
        services.widget_key_rotate(actor=request.user, widget=context["widget"])
    except ApplicationError as error:
        return render_failure(request, "agents/portal_widget.html", context, error)
    messages.success(request, _("New key issued; update the snippet on your site."))
    return redirect("portal-widget", placement_id=placement_id)


# --- copy review --------------------------------------------------------------------------------


def _review_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "pending": selectors.copy_drafts(viewer=request.user, status=CopyDraft.Status.PENDING),
        "reviewed": selectors.copy_drafts(viewer=request.user).exclude(status=CopyDraft.Status.PENDING)[:20],
    }


@login_required
def portal_review(request: HttpRequest) -> HttpResponse:
    _partner_member(request)
    return render(request, "agents/portal_review.html", _review_context(request))


@login_required
@require_POST
def portal_review_decide(request: HttpRequest, draft_id: int) -> HttpResponse:
    _partner_member(request)
    draft = or_404(selectors.copy_draft_get, viewer=request.user, draft_id=draft_id)
    decision = request.POST.get("decision", "")
    text = request.POST.get("text")
    try:
        services.copy_draft_review(
            actor=request.user,
            draft=draft,
            decision=decision,
            text=text if decision == "approve" and text is not None else None,
            note=request.POST.get("note", ""),
        )
    except ApplicationError as error:
        return render_failure(request, "agents/portal_review.html", _review_context(request), error)
    if decision == "approve":
        verdict = _("Draft %(number)s approved: it counts as delivered work.")
    else:
        verdict = _("Draft %(number)s rejected.")
    messages.success(request, verdict % {"number": draft.pk})
    return redirect("portal-review")


# --- economics -----------------------------------------------------------------------------------


@login_required
def placement_economics(request: HttpRequest, placement_id: int) -> HttpResponse:
    placement, figures = or_404(selectors.placement_economics, viewer=request.user, placement_id=placement_id)
    return render(
        request,
        "agents/economics.html",
        {
            "title": _("%(name)s at %(partner)s")
            % {"name": placement.employee.name, "partner": placement.partner.name},
            "rows": [(placement, figures)],
        },
    )


@console_required
def employee_economics(request: HttpRequest, slug: str) -> HttpResponse:
    rows = or_404(selectors.employee_economics, viewer=request.user, slug=slug)
    return render(
        request, "agents/economics.html", {"title": rows[0][0].employee.name, "rows": rows, "per_employee": True}
    )


# --- transcripts in the console ---------------------------------------------------------------------


@console_required
def console_conversations(request: HttpRequest) -> HttpResponse:
    employees = (
        placement_list(viewer=request.user)
        .values_list("employee__slug", "employee__name")
        .distinct()
        .order_by("employee__name")
    )
    return render(
        request,
        "agents/console_conversations.html",
        {"conversations": selectors.conversation_list(viewer=request.user)[:200], "employees": employees},
    )


@console_required
def console_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = or_404(selectors.conversation_get, viewer=request.user, conversation_id=conversation_id)
    return render(request, "agents/conversation.html", _conversation_context(request, conversation))
