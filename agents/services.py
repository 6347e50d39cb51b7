"""Every write of the agents app: conversations and their turns, copy review, the
partner's knowledge (catalog, documents, offers) and the widget's settings.

Touchpoints and outcomes are recorded only through revenue.services.ingestion. A turn's
reply is unique per inbound message (the database holds that), so the reply task can run
any number of times and leaves one reply."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from agents import retrieval, selectors
from agents.llm import Invoker, ModelFailure, ModelRouter, current_router
from agents.models import (
    AgentRun,
    CatalogItem,
    Conversation,
    CopyDraft,
    CouponOffer,
    KnowledgeChunk,
    KnowledgeDocument,
    Message,
    Widget,
)
from agents.prompts import Persona
from agents.skills import workflow_for
from agents.tools import resolution_current
from agents.workflows import TurnContext
from contracts.models import Placement
from contracts.services import partner_member_require
from core.currencies import minor_unit_exponent
from core.db import CompiledQuery, insert_statement, update_statement, writes_send
from core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from core.models import User
from core.queue import enqueue_on_commit
from core.services import audit_record
from revenue.models import Outcome
from revenue.services.ingestion import outcome_record, outcome_withdraw, touchpoint_record

REOPEN_WITHDRAWS_WITHIN = timedelta(hours=24)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def max_message_chars() -> int:
    return settings.AGENT_MAX_MESSAGE_CHARS


# --- who may do what --------------------------------------------------------------------


def _require_working(placement: Placement) -> None:
    if placement.status != Placement.Status.ACTIVE:
        raise InvalidTransition(
            f"{placement.employee.name} at {placement.partner.name} is {placement.status}; "
            "only an active placement talks with people."
        )


def _placement_read(placement: Placement) -> Placement:
    return Placement.objects.select_related("partner", "employee").get(pk=placement.pk)


def _placement_for_update(placement: Placement) -> Placement:
    """The placement, locked: changes to its knowledge and widget happen one at a time."""
    return Placement.objects.select_for_update(of=("self",)).select_related("partner", "employee").get(pk=placement.pk)


# --- conversations ----------------------------------------------------------------------


def message_text_clean(text: Any) -> str:
    """A message as it will be stored, or ValidationFailed (empty, too long, unstorable)."""
    if not isinstance(text, str):
        raise ValidationFailed(_("The message must be text."), fields={"message": ["Must be a string."]})
    text = text.strip()
    if not text:
        raise ValidationFailed(_("The message is empty."), fields={"message": ["Write something first."]})
    limit = max_message_chars()
    if len(text) > limit:
        raise ValidationFailed(
            f"The message is {len(text):,} characters; the limit is {limit:,}.",
            fields={"message": [f"At most {limit:,} characters."]},
        )
    if _UNSTORABLE.search(text):
        raise ValidationFailed(
            _("The message contains characters that cannot be stored."),
            fields={"message": ["Contains invalid characters."]},
        )
    return text


def _skill_for(placement: Placement, skill: str | None) -> str:
    skills = [key for key in placement.employee.skills if workflow_for(key) is not None]
    if skill is None:
        if not skills:
            raise InvalidTransition(
                _("%(name)s has no skill that can hold a conversation.") % {"name": placement.employee.name}
            )
        return skills[0]
    if skill not in skills:
        raise ValidationFailed(
            _("%(name)s does not have the skill %(skill)r.") % {"name": placement.employee.name, "skill": skill},
            fields={"skill": [f"One of: {', '.join(skills)}."]},
        )
    return skill


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Started:
    conversation: Conversation
    message: Message
    visitor_token: str  # the widget visitor's secret ("" for the portal)


@transaction.atomic
def conversation_start(
    *, placement: Placement, channel: str, text: Any, actor: User | None = None, skill: str | None = None
) -> Started:
    """Open a conversation with the placement's employee and post its first message. In
    the portal the actor is a member of the partner; in the widget, an anonymous visitor
    who gets a secret token for the conversation. The conversation id is recorded as a
    `conversation` touchpoint, so a sale that carries it can be attributed."""
    text = message_text_clean(text)
    placement = _placement_read(placement)
    if channel == Conversation.Channel.PORTAL:
        partner_member_require(actor, placement.partner, doing="talk with its employees in the portal")
    elif channel != Conversation.Channel.WIDGET:
        raise ValidationFailed(_("Unknown channel %(channel)r.") % {"channel": channel})
    _require_working(placement)
    skill = _skill_for(placement, skill)
    token = secrets.token_urlsafe(24) if channel == Conversation.Channel.WIDGET else ""
    conversation = Conversation.objects.create(
        public_id=f"conv-{secrets.token_hex(8)}",
        placement=placement,
        skill=skill,
        channel=channel,
        started_by=actor,
        visitor_token_digest=_token_digest(token) if token else "",
    )
    touchpoint_record(
        placement=placement, kind="conversation", key=conversation.public_id, occurred_at=conversation.created_at
    )
    audit_record(
        actor=actor,
        action="conversation.start",
        target=conversation,
        partner_id=placement.partner_id,
        summary=f"Conversation {conversation.public_id} with {placement.employee.name} ({channel})",
        via=None if actor else "widget visitor",
    )
    message = _message_add(conversation, text, actor)
    return Started(conversation=conversation, message=message, visitor_token=token)


def conversation_token_matches(conversation: Conversation, token: Any) -> bool:
    return (
        isinstance(token, str)
        and bool(conversation.visitor_token_digest)
        and secrets.compare_digest(conversation.visitor_token_digest, _token_digest(token))
    )


@transaction.atomic
def message_post(*, conversation: Conversation, text: Any, actor: User | None = None) -> Message:
    """A new message from the customer (or partner member) in an open conversation; the
    reply is made on a worker. Writing again within 24 hours of a resolution reopens the
    conversation and withdraws that resolution outcome."""
    text = message_text_clean(text)
    conversation = (
        Conversation.objects.select_for_update()
        .select_related("placement__partner", "placement__employee")
        .get(pk=conversation.pk)
    )
    if conversation.channel == Conversation.Channel.PORTAL:
        partner_member_require(actor, conversation.placement.partner, doing="write in this conversation")
    elif actor is not None:
        raise PermissionDenied(_("A widget conversation is the visitor's: only they write in it."))
    _require_working(conversation.placement)
    _reopen_if_resolved(conversation, actor)
    return _message_add(conversation, text, actor)


def human_has(conversation: Conversation) -> bool:
    """Whether a person has taken the conversation over: it was escalated and a member has
    answered in person since. Until then the employee keeps the conversation going (a
    hand-over passes a question on; it does not leave the shopper talking to no one)."""
    if conversation.status != Conversation.Status.ESCALATED:
        return False
    staff = conversation.messages.filter(role=Message.Role.STAFF)
    if conversation.escalated_at is not None:
        staff = staff.filter(created_at__gte=conversation.escalated_at)
    return staff.exists()


def _message_add(conversation: Conversation, text: str, actor: User | None) -> Message:
    """Store a customer's message; the employee answers it on a worker, unless a person has
    taken the conversation over (answered it in person): then it waits for them."""
    escalated = human_has(conversation)
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.USER,
        content=text,
        status=Message.Status.WAITING if escalated else Message.Status.PENDING,
        sender=actor,
    )
    if not escalated:
        _reply_queue(message.pk)
    return message


def _reply_queue(message_id: int) -> None:
    enqueue_on_commit("agents.tasks.message_reply", message_id)


# --- a human takes over an escalated conversation -------------------------------------------


def _escalated(conversation: Conversation, actor: User, doing: str) -> Conversation:
    conversation = (
        Conversation.objects.select_for_update()
        .select_related("placement__partner", "placement__employee")
        .get(pk=conversation.pk)
    )
    partner_member_require(actor, conversation.placement.partner, doing=doing)
    if conversation.status != Conversation.Status.ESCALATED:
        raise InvalidTransition(
            _("The conversation is %(status)s; a human takes over only an escalated one.")
            % {"status": conversation.status}
        )
    return conversation


@transaction.atomic
def conversation_human_reply(*, actor: User, conversation: Conversation, text: Any) -> Message:
    """A partner member answers an escalated conversation in person; the customer's
    messages waiting for a human are answered."""
    text = message_text_clean(text)
    conversation = _escalated(conversation, actor, "answer its customers")
    reply = Message.objects.create(
        conversation=conversation, role=Message.Role.STAFF, content=text, status=Message.Status.SENT, sender=actor
    )
    conversation.messages.filter(role=Message.Role.USER, status=Message.Status.WAITING).update(
        status=Message.Status.ANSWERED
    )
    audit_record(
        actor=actor,
        action="conversation.human_reply",
        target=conversation,
        partner_id=conversation.placement.partner_id,
        summary=f"{actor.username} answered escalated conversation {conversation.public_id}",
    )
    return reply


@transaction.atomic
def conversation_hand_back(*, actor: User, conversation: Conversation) -> Conversation:
    """The human hands the conversation back to the employee, which answers whatever is
    still waiting."""
    conversation = _escalated(conversation, actor, "hand conversations back to its employees")
    conversation.status = Conversation.Status.OPEN
    conversation.save(update_fields=["status", "updated_at"])
    waiting = list(
        conversation.messages.filter(role=Message.Role.USER, status=Message.Status.WAITING).values_list("pk", flat=True)
    )
    Message.objects.filter(pk__in=waiting).update(status=Message.Status.PENDING)
    for message_id in waiting:
        _reply_queue(message_id)
    audit_record(
        actor=actor,
        action="conversation.hand_back",
        target=conversation,
        partner_id=conversation.placement.partner_id,
        summary=f"Conversation {conversation.public_id} handed back to {conversation.placement.employee.name}",
    )
    return conversation


def _reopen_if_resolved(conversation: Conversation, actor: User | None) -> None:
    now = timezone.now()
    outcome = resolution_current(conversation)
    withdrawn = None
    if outcome is not None and outcome.occurred_at >= now - REOPEN_WITHDRAWS_WITHIN:
        withdrawn = outcome_withdraw(
            placement=conversation.placement, kind=Outcome.Kind.RESOLUTION, external_id=outcome.external_id
        )
    if conversation.status == Conversation.Status.RESOLVED or withdrawn is not None:
        conversation.status = Conversation.Status.OPEN
        conversation.reopened_at = now
        conversation.save(update_fields=["status", "reopened_at", "updated_at"])
        summary = f"Conversation {conversation.public_id} reopened"
        if withdrawn is not None:
            summary += f"; resolution {withdrawn.external_id} withdrawn"
        audit_record(
            actor=actor,
            action="conversation.reopen",
            target=conversation,
            partner_id=conversation.placement.partner_id,
            summary=summary,
            via=None if actor else "widget visitor",
        )


# --- the turn (on a worker) ---------------------------------------------------------------


class TurnRetry(Exception):
    """The model failed on a non-final attempt: the task retries later."""


APOLOGY = "Sorry, I can't answer right now. Your message is saved, and a colleague at {partner} will follow up here."
APOLOGY_JA = (
    "申し訳ありません、ただいまお答えできません。メッセージは保存しましたので、"
    "{partner}の担当者がこちらでご連絡します。"
)


# The last 12 messages before the inbound one, newest first: read with the lock (two arrays
# of one subquery's rows, in its order) rather than in a round trip of their own.
_RECENT = Message.objects.filter(conversation=OuterRef("conversation_id"), id__lt=OuterRef("pk")).order_by("-id")[:12]


def _history(inbound: Message) -> list[tuple[str, str]]:
    roles: list[str] = inbound.history_roles  # type: ignore[attr-defined]  # the lock's annotations
    contents: list[str] = inbound.history_contents  # type: ignore[attr-defined]
    return list(reversed(list(zip(roles, contents, strict=True))))


def _persona(placement: Placement) -> Persona:
    return Persona(
        name=placement.employee.name,
        title=placement.employee.title,
        partner=placement.partner.name,
        persona=placement.employee.persona,
        currency=placement.partner.currency,
    )


class _TryFailed(Exception):
    """A try of the workflow failed at the model: raised out of the turn's transaction, so
    the database drops whatever the try's tools wrote (a coupon, its touchpoint)."""


# The lock: the inbound message with its conversation, placement, partner and employee, the
# reply already made (if any), the history and the placement's catalog and documents figures
# (selectors.placement_stock), in one round trip. Compiled once per process: building and
# compiling this queryset was about 2 ms of every turn.
_LOCK: CompiledQuery[Message] = CompiledQuery(
    lambda message_id: (
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation__placement__partner", "conversation__placement__employee")
        .annotate(
            reply_pk=Subquery(Message.objects.filter(reply_to=OuterRef("pk")).values("pk")[:1]),
            history_roles=ArraySubquery(_RECENT.values("role")),
            history_contents=ArraySubquery(_RECENT.values("content")),
            stock=selectors.stock_annotation('"agents_conversation"."placement_id"'),
        )
        .filter(pk=message_id, role=Message.Role.USER)
        .order_by()[:1]
    ),
    message_id=-7_301_998_442_117,
)


def message_answer(
    *, message_id: int, attempt: int = 1, final: bool = True, router: ModelRouter | None = None
) -> Message | None:
    """Answer one inbound message with its conversation's skill; return the reply.

    Safe to run twice: the inbound message is locked, and a message that has its reply
    already returns it. A model error on a non-final attempt records the failed run and
    raises TurnRetry; on the final attempt the turn falls back one tier, and if that fails
    too, the employee apologises and the message is marked failed. Every model call is
    stored as an AgentRun either way."""
    invoker = Invoker(router or current_router(), attempt=attempt)
    # A try runs without a savepoint of its own (SAVEPOINT and RELEASE: two round trips of
    # every turn, for a failure that is rare): a model failure rolls the turn's transaction
    # back instead, with whatever the try's tools wrote, and the turn starts again from the
    # lock, which reads the message afresh (another worker may have answered it meanwhile).
    tries = (False, True) if final else (False,)
    for degraded in tries:
        invoker.degraded = degraded
        try:
            return _turn(message_id, invoker, answer=True)[0]
        except _TryFailed:
            continue
    # Every try failed: store the failed calls, and on the final attempt the apology.
    reply, done = _turn(message_id, invoker, answer=False, final=final)
    if not done:
        raise TurnRetry(f"model failed for message {message_id} (attempt {attempt})")
    return reply


def _turn(message_id: int, invoker: Invoker, *, answer: bool, final: bool = True) -> tuple[Message | None, bool]:
    """One transaction of a turn: lock the message, then answer it (`answer`) or, after the
    tries failed, store the failed calls and (`final`) the apology. Returns the reply and
    whether the turn is done (False: the failed calls are stored, the task retries)."""
    with transaction.atomic(), selectors.turn_reads():
        found = _LOCK.all(message_id=message_id)
        if not found:
            return None, True
        inbound = found[0]
        if inbound.reply_pk is not None:  # type: ignore[attr-defined]  # the lock's annotation
            return Message.objects.get(pk=inbound.reply_pk), True  # type: ignore[attr-defined]  # answered already
        if inbound.status != Message.Status.PENDING:
            # A human has it, or another worker answered while this one waited for the lock
            # (the subquery read the snapshot from before that worker's commit): read again.
            return Message.objects.filter(reply_to=inbound).first(), True
        selectors.turn_message_keep(inbound)
        conversation = inbound.conversation
        placement = conversation.placement
        selectors.turn_stock_keep(placement.pk, inbound.stock)  # type: ignore[attr-defined]
        if not answer:
            if not final:
                _runs_store(invoker, inbound, placement, conversation.skill)
                return None, False
            return _reply_store(inbound, None, placement, _runs(invoker, inbound, placement, conversation.skill)), True
        workflow = workflow_for(conversation.skill)
        ctx = TurnContext(
            conversation=conversation,
            message=inbound,
            persona=_persona(placement),
            invoker=invoker,
            history=_history(inbound),
            playbook=workflow.playbook,
        )
        try:
            state = dict(workflow.run(ctx))
        except ModelFailure as failure:
            raise _TryFailed(str(failure)) from failure
        return _reply_store(inbound, state, placement, _runs(invoker, inbound, placement, conversation.skill)), True


def _runs(invoker: Invoker, inbound: Message, placement: Placement, skill: str) -> list[AgentRun]:
    """The turn's model calls as AgentRuns, not stored yet; the invoker forgets them."""
    runs = [
        AgentRun(
            message=inbound,
            placement=placement,
            skill=skill,
            step=run.step,
            attempt=run.attempt,
            tier=run.tier,
            model=run.model,
            tokens_in=run.tokens_in,
            tokens_out=run.tokens_out,
            cost=run.cost,
            cost_currency=run.cost_currency,
            latency_ms=run.latency_ms,
            status=run.status,
            error=run.error,
        )
        for run in invoker.runs
    ]
    invoker.runs.clear()
    return runs


def _runs_store(invoker: Invoker, inbound: Message, placement: Placement, skill: str) -> None:
    AgentRun.objects.bulk_create(_runs(invoker, inbound, placement, skill))


def _reply_store(inbound: Message, state: dict[str, Any] | None, placement: Placement, runs: list[AgentRun]) -> Message:
    if state is None:
        inbound.status = Message.Status.FAILED
        apology = APOLOGY_JA if retrieval.is_japanese(inbound.content) else APOLOGY
        content = apology.format(partner=placement.partner.name)
        citations: list[dict[str, Any]] = []
        products: list[dict[str, Any]] = []
        intent = "failed"
        confidence = None
    else:
        inbound.status = Message.Status.ANSWERED
        content = state.get("reply") or ""
        citations = state.get("citations") or []
        products = [
            {key: p[key] for key in ("sku", "name", "price", "currency", "price_label")}
            for p in state.get("products") or []
        ]
        intent = state.get("mode", "")
        confidence = state.get("confidence")
    inbound.intent = intent
    reply = Message(
        conversation=inbound.conversation,
        role=Message.Role.ASSISTANT,
        content=content[:20000],
        status=Message.Status.SENT,
        reply_to=inbound,
        citations=citations,
        products=products,
        intent=intent,
        confidence=confidence,
    )
    # The dialogue state the workflow left on the conversation stored with the turn's time;
    # a failed turn leaves the stored state alone.
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if state is not None:
        changes["dialogue"] = inbound.conversation.dialogue
    # The runs, the inbound's status, the conversation and the reply in one round trip: none
    # reads another's row, and under load each round trip of a turn waits for a core.
    writes = [
        update_statement(Message.objects.filter(pk=inbound.pk), status=inbound.status, intent=intent),
        update_statement(Conversation.objects.filter(pk=inbound.conversation_id), **changes),
    ]
    if runs:
        writes.append(insert_statement(runs))
    ((reply.pk,),) = writes_send(writes, insert_statement([reply], returning=True))
    reply._state.adding = False
    reply._state.db = DEFAULT_DB_ALIAS
    return reply


# --- copy review --------------------------------------------------------------------------

COPY_DECISIONS = ("approve", "reject")


@transaction.atomic
def copy_draft_review(
    *, actor: User, draft: CopyDraft, decision: str, text: str | None = None, note: str = ""
) -> CopyDraft:
    """A partner member approves (optionally after editing) or rejects a draft. An approved
    draft is a `delivered_work` outcome."""
    draft = (
        CopyDraft.objects.select_for_update(of=("self",))
        .select_related("placement__partner", "placement__employee")
        .get(pk=draft.pk)
    )
    partner_member_require(actor, draft.placement.partner, doing="review its employees' drafts")
    if decision not in COPY_DECISIONS:
        raise ValidationFailed(
            _("Unknown decision %(decision)r.") % {"decision": decision}, fields={"decision": ["approve or reject"]}
        )
    if draft.status != CopyDraft.Status.PENDING:
        raise InvalidTransition(_("This draft was already %(status)s.") % {"status": draft.status})
    note = (note or "").strip()[:500]
    now = timezone.now()
    changes: dict[str, Any] = {"status": [draft.status, ""]}
    if decision == "approve":
        if text is not None:
            text = text.strip()
            if not text:
                raise ValidationFailed(
                    _("The edited copy is empty."), fields={"text": ["Write the copy or reject it."]}
                )
            if len(text) > 20000:
                raise ValidationFailed(_("The copy is longer than 20,000 characters."), fields={"text": ["Too long."]})
            draft.text = text
        draft.status = CopyDraft.Status.APPROVED
        outcome_record(
            placement=draft.placement, kind=Outcome.Kind.DELIVERED_WORK, external_id=f"copy-{draft.pk}", occurred_at=now
        )
    else:
        draft.status = CopyDraft.Status.REJECTED
    draft.reviewed_by, draft.reviewed_at, draft.review_note = actor, now, note
    draft.save(update_fields=["text", "status", "reviewed_by", "reviewed_at", "review_note"])
    changes["status"][1] = draft.status
    audit_record(
        actor=actor,
        action=f"copy_draft.{decision}",
        target=draft,
        partner_id=draft.placement.partner_id,
        summary=f"Copy draft {draft.pk} by {draft.placement.employee.name} {draft.status}"
        f"{' (edited)' if draft.edited else ''}",
        changes=changes,
    )
    return draft


# --- knowledge: catalog, documents, offers ------------------------------------------------

CATALOG_COLUMNS = ("sku", "name", "description", "price", "tags")
MAX_CATALOG_BYTES = 5 * 1024 * 1024
MAX_CATALOG_ROWS = 20_000
MAX_DOCUMENT_BYTES = 512 * 1024
KNOWLEDGE_STATUSES = (
    Placement.Status.REQUESTED,
    Placement.Status.APPROVED,
    Placement.Status.ACTIVE,
    Placement.Status.PAUSED,
)


def _require_knowledge_editable(actor: Any, placement: Placement) -> None:
    partner_member_require(actor, placement.partner, doing="change what its employees know")
    if placement.status not in KNOWLEDGE_STATUSES:
        raise InvalidTransition(
            _("The placement is %(status)s; its knowledge can no longer change.") % {"status": placement.status}
        )


@dataclass(frozen=True)
class CatalogRowError:
    row: int  # 1-based line number in the file, the header being line 1
    column: str
    message: str


class CatalogRejected(ValidationFailed):
    """The CSV has broken rows: nothing was stored; `rows` says what to fix."""

    def __init__(self, message: str, rows: list[CatalogRowError]) -> None:
        fields = {f"row {r.row}": [f"{r.column}: {r.message}" if r.column else r.message] for r in rows[:50]}
        super().__init__(message, fields=fields)
        self.rows = rows


def _decode(content: bytes, what: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            _("The %(what)s is not UTF-8 text.") % {"what": what}, fields={"file": ["Save it as UTF-8."]}
        ) from None


def _catalog_rows(text: str, currency: str) -> tuple[list[dict[str, Any]], list[CatalogRowError]]:

    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in ("sku", "name", "price") if name not in header]
    if missing:
        raise ValidationFailed(
            _("The CSV header lacks: %(join)s (expected %(join2)s).")
            % {"join": ", ".join(missing), "join2": ", ".join(CATALOG_COLUMNS)},
            fields={"file": [f"Missing column(s): {', '.join(missing)}."]},
        )
    unknown = [name for name in header if name not in CATALOG_COLUMNS]
    if unknown:
        raise ValidationFailed(
            _("Unknown column(s): %(join)s.") % {"join": ", ".join(unknown)},
            fields={"file": [f"Columns are {', '.join(CATALOG_COLUMNS)}."]},
        )
    reader.fieldnames = header
    exponent = minor_unit_exponent(currency)
    rows: list[dict[str, Any]] = []
    errors: list[CatalogRowError] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            errors.append(CatalogRowError(line, "", "has more fields than the header"))
            continue
        values = {key: (value or "").strip() for key, value in raw.items()}
        row_errors = []
        sku, name = values.get("sku", ""), values.get("name", "")
        if not sku or len(sku) > 64:
            row_errors.append(CatalogRowError(line, "sku", "required, at most 64 characters"))
        elif sku in seen:
            row_errors.append(CatalogRowError(line, "sku", f"repeats line {seen[sku]}"))
        if not name or len(name) > 200:
            row_errors.append(CatalogRowError(line, "name", "required, at most 200 characters"))
        try:
            price = Decimal(values.get("price", ""))
            minor = price.scaleb(exponent)
            if not price.is_finite() or price < 0 or minor != minor.to_integral_value() or minor > 2**53:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            row_errors.append(
                CatalogRowError(
                    line, "price", f"must be a non-negative amount in {currency} with at most {exponent} decimals"
                )
            )
            minor = Decimal(0)
        tags = [tag.strip().lower() for tag in re.split(r"[;|,]", values.get("tags", "")) if tag.strip()]
        if any(len(tag) > 40 for tag in tags):
            row_errors.append(CatalogRowError(line, "tags", "each tag at most 40 characters"))
        if any(_UNSTORABLE.search(value) for value in values.values()):
            row_errors.append(CatalogRowError(line, "", "contains characters that cannot be stored"))
        if row_errors:
            errors.extend(row_errors)
            continue
        seen[sku] = line
        rows.append(
            {
                "sku": sku,
                "name": name,
                "description": values.get("description", "")[:4000],
                "price": int(minor),
                "tags": tags,
            }
        )
    return rows, errors


@transaction.atomic
def catalog_upload(*, actor: User, placement: Placement, content: bytes, filename: str = "catalog.csv") -> int:
    """Replace the placement's catalog with a CSV (sku, name, description, price, tags;
    price in major units of the partner's currency, tags separated by ";"). A file with
    any broken row is refused whole, naming each broken row; nothing changes. Returns the
    number of items."""
    placement = _placement_for_update(placement)
    _require_knowledge_editable(actor, placement)
    if len(content) > MAX_CATALOG_BYTES:
        raise ValidationFailed(
            _("The file is over %(max_catalog_bytes)s MB.") % {"max_catalog_bytes": MAX_CATALOG_BYTES // (1024 * 1024)},
            fields={"file": ["Too large."]},
        )
    rows, errors = _catalog_rows(_decode(content, "catalog"), placement.partner.currency)
    if errors:
        lines = sorted({e.row for e in errors})
        raise CatalogRejected(
            f"{len(lines)} row(s) of {filename} are broken (line(s) "
            f"{', '.join(map(str, lines[:10]))}{'…' if len(lines) > 10 else ''}); "
            "nothing was stored.",
            errors,
        )
    if not rows:
        raise ValidationFailed(_("The CSV has no products."), fields={"file": ["Add at least one row."]})
    if len(rows) > MAX_CATALOG_ROWS:
        raise ValidationFailed(
            f"At most {MAX_CATALOG_ROWS:,} products per catalog.", fields={"file": ["Too many rows."]}
        )
    CatalogItem.objects.filter(placement=placement).delete()
    CatalogItem.objects.bulk_create(
        [
            CatalogItem(
                placement=placement,
                currency=placement.partner.currency,
                terms=retrieval.term_set(row["name"], row["description"], " ".join(row["tags"])),
                **row,
            )
            for row in rows
        ]
    )
    audit_record(
        actor=actor,
        action="catalog.upload",
        target=placement,
        partner_id=placement.partner_id,
        summary=f"Catalog for {placement.employee.name}: {len(rows)} products from {filename[:80]}",
    )
    return len(rows)


_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
CHUNK_CHARS = 700


def _chunks(body: str) -> list[tuple[str, str]]:
    """(heading, text) passages: split at markdown headings and blank lines, ~700 characters each."""
    out: list[tuple[str, str]] = []
    heading, buffer = "", ""
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        first, _, rest = paragraph.partition("\n")
        match = _HEADING.match(first)
        if match:
            if buffer:
                out.append((heading, buffer))
                buffer = ""
            heading, paragraph = match.group(1).strip()[:200], rest.strip()
            if not paragraph:
                continue
        if buffer and len(buffer) + len(paragraph) > CHUNK_CHARS:
            out.append((heading, buffer))
            buffer = ""
        buffer = f"{buffer}\n{paragraph}".strip()
    if buffer:
        out.append((heading, buffer))
    return out


@transaction.atomic
def document_upload(
    *, actor: User, placement: Placement, content: bytes, filename: str, title: str = ""
) -> KnowledgeDocument:
    """Add (or replace, by title) a text or markdown document of the knowledge base,
    split into passages and indexed for retrieval."""
    placement = _placement_for_update(placement)
    _require_knowledge_editable(actor, placement)
    filename = (filename or "").strip()[:200]
    if not filename.lower().endswith((".txt", ".md", ".markdown")):
        raise ValidationFailed(_("Upload a .txt or .md file."), fields={"file": ["Text or markdown only."]})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(
            _("The document is over %(kilobytes)s KB.") % {"kilobytes": MAX_DOCUMENT_BYTES // 1024},
            fields={"file": ["Too large."]},
        )
    body = _decode(content, "document").replace("\r\n", "\n").strip()
    if _UNSTORABLE.search(body):
        raise ValidationFailed(
            _("The document contains characters that cannot be stored."), fields={"file": ["Invalid characters."]}
        )
    passages = _chunks(body)
    if not passages:
        raise ValidationFailed(_("The document is empty."), fields={"file": ["No text."]})
    title = (title or "").strip() or re.sub(r"\.(txt|md|markdown)$", "", filename, flags=re.IGNORECASE)
    title = title[:200]
    KnowledgeDocument.objects.filter(placement=placement, title=title).delete()
    document = KnowledgeDocument.objects.create(
        placement=placement, title=title, filename=filename, body=body, uploaded_by=actor
    )
    KnowledgeChunk.objects.bulk_create(
        [
            KnowledgeChunk(
                document=document,
                placement=placement,
                ordinal=n,
                heading=heading,
                text=text,
                terms=retrieval.term_set(title, heading, text),
            )
            for n, (heading, text) in enumerate(passages)
        ]
    )
    audit_record(
        actor=actor,
        action="knowledge.upload",
        target=document,
        partner_id=placement.partner_id,
        summary=f"Document “{title}” for {placement.employee.name}: {len(passages)} passages",
    )
    return document


@transaction.atomic
def document_delete(*, actor: User, document: KnowledgeDocument) -> None:
    placement = _placement_for_update(document.placement)
    _require_knowledge_editable(actor, placement)
    audit_record(
        actor=actor,
        action="knowledge.delete",
        target=document,
        partner_id=placement.partner_id,
        summary=f"Document “{document.title}” removed",
    )
    document.delete()


@transaction.atomic
def offer_create(
    *, actor: User, placement: Placement, title: str, percent_off: int, code_prefix: str, tags: list[str] | None = None
) -> CouponOffer:
    """A deal the employee may hand out as coupon codes."""
    placement = _placement_for_update(placement)
    _require_knowledge_editable(actor, placement)
    title = (title or "").strip()
    fields: dict[str, list[str]] = {}
    if not title or len(title) > 160:
        fields["title"] = ["Required, at most 160 characters."]
    if not isinstance(percent_off, int) or not 1 <= percent_off <= 90:
        fields["percent_off"] = ["A whole percentage from 1 to 90."]
    code_prefix = (code_prefix or "").strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{2,12}", code_prefix):
        fields["code_prefix"] = ["2 to 12 letters or digits."]
    clean_tags = sorted({t.strip().lower() for t in (tags or []) if t.strip()})
    if any(len(t) > 40 for t in clean_tags):
        fields["tags"] = ["Each tag at most 40 characters."]
    if fields:
        first = next(iter(fields))
        raise ValidationFailed(_("%(first)s: %(fields)s") % {"first": first, "fields": fields[first][0]}, fields=fields)
    offer = CouponOffer.objects.create(
        placement=placement, title=title, percent_off=percent_off, code_prefix=code_prefix, tags=clean_tags
    )
    audit_record(
        actor=actor,
        action="offer.create",
        target=offer,
        partner_id=placement.partner_id,
        summary=f"Offer “{title}” ({percent_off}% off) for {placement.employee.name}",
    )
    return offer


# --- the widget ---------------------------------------------------------------------------

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")


def origins_clean(origins: Any) -> list[str]:
    if isinstance(origins, str):
        origins = re.split(r"[\s,]+", origins)
    cleaned = sorted({o.strip().rstrip("/").lower() for o in origins or [] if o and o.strip()})
    bad = [o for o in cleaned if not _ORIGIN.match(o)]
    if bad:
        raise ValidationFailed(
            _("Not an origin: %(bad)s (write e.g. https://shop.example.com).") % {"bad": bad[0]},
            fields={"allowed_origins": [f"Not an origin: {o}" for o in bad]},
        )
    if len(cleaned) > 20:
        raise ValidationFailed(_("At most 20 origins."), fields={"allowed_origins": ["Too many."]})
    return cleaned


@transaction.atomic
def widget_configure(*, actor: User, placement: Placement, allowed_origins: Any) -> Widget:
    """Create the placement's widget (with a publishable key) or change its allowed origins."""
    placement = _placement_for_update(placement)
    partner_member_require(actor, placement.partner, doing="configure the chat widget", owner=True)
    origins = origins_clean(allowed_origins)
    widget, created = Widget.objects.get_or_create(
        placement=placement, defaults={"publishable_key": _publishable_key(), "allowed_origins": origins}
    )
    before = [] if created else list(widget.allowed_origins)
    if not created:
        widget.allowed_origins = origins
        widget.save(update_fields=["allowed_origins", "updated_at"])
    audit_record(
        actor=actor,
        action="widget.configure",
        target=widget,
        partner_id=placement.partner_id,
        summary=f"Widget for {placement.employee.name}: origins {', '.join(origins) or 'none'}",
        changes={"allowed_origins": [before, origins]},
    )
    return widget


@transaction.atomic
def widget_key_rotate(*, actor: User, widget: Widget) -> Widget:
    widget = Widget.objects.select_for_update().select_related("placement__partner").get(pk=widget.pk)
    partner_member_require(actor, widget.placement.partner, doing="rotate the widget key", owner=True)
    widget.publishable_key = _publishable_key()
    widget.save(update_fields=["publishable_key", "updated_at"])
    audit_record(
        actor=actor,
        action="widget.rotate",
        target=widget,
        partner_id=widget.placement.partner_id,
        summary="Widget key rotated; the old key stops working",
    )
    return widget


def _publishable_key() -> str:
    return f"pk_{secrets.token_urlsafe(18)}"
