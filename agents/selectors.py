"""Reads of the agents app, scoped to the viewer with contracts.selectors: a partner sees
only its own placements' conversations and knowledge, an account manager only those of
the partners assigned to them; anything else is NotFound."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from agents.models import (
    AgentRun,
    CatalogItem,
    Conversation,
    CopyDraft,
    CouponOffer,
    IssuedCoupon,
    KnowledgeChunk,
    KnowledgeDocument,
    Message,
    Widget,
)
from contracts.models import Placement
from contracts.selectors import partners_visible, placement_get, placement_list
from core.currencies import MINOR_UNIT_EXPONENT, format_money
from core.errors import NotFound
from revenue.models import Statement

# --- what a turn reads of the placement's knowledge ------------------------------------------
#
# A turn asks several times what the partner's catalog and documents hold (how many items, the
# words they use, whether any document exists). Within a turn they cannot change under it, so
# one query answers all of it (turn_reads memoises per turn); across turns the derived data
# (the vocabulary, the catalog's rows) is kept per process under the signature below. Catalog
# items and passages are only ever inserted (ids from a sequence) or deleted, never updated in
# place (a catalog upload replaces the whole catalog), so (count, max id) of each changes
# whenever their content does.

_TURN: ContextVar[dict[Any, Any] | None] = ContextVar("agents_turn_reads", default=None)


@contextmanager
def turn_reads() -> Iterator[None]:
    """Within the block, the reads below are made at most once (one turn, one transaction)."""
    token = _TURN.set({})
    try:
        yield
    finally:
        _TURN.reset(token)


def _memo(key: Any, load: Callable[[], Any]) -> Any:
    memo = _TURN.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def turn_message_keep(message: Message) -> None:
    """Within turn_reads, the inbound message as the turn locked it (with its conversation,
    placement, partner and employee), for the tools handed its id: they need not read it
    again."""
    memo = _TURN.get()
    if memo is not None:
        memo[("message", message.pk)] = message


def turn_message(message_id: int) -> Message:
    """The message with its conversation, placement and employee: the one the turn keeps,
    or read."""
    return _memo(
        ("message", message_id),
        lambda: Message.objects.select_related("conversation__placement__employee").get(pk=message_id),
    )


@dataclass(frozen=True)
class Stock:
    """The size of a placement's catalog and documents, and their version signature."""

    items: int
    items_last: int
    chunks: int
    chunks_last: int
    documents: bool

    @property
    def signature(self) -> tuple[int, int, int, int]:
        return (self.items, self.items_last, self.chunks, self.chunks_last)


_STOCK_PARTS = (
    "(SELECT count(*) FROM agents_catalogitem WHERE placement_id = {p})",
    "(SELECT coalesce(max(id), 0) FROM agents_catalogitem WHERE placement_id = {p})",
    "(SELECT count(*) FROM agents_knowledgechunk WHERE placement_id = {p})",
    "(SELECT coalesce(max(id), 0) FROM agents_knowledgechunk WHERE placement_id = {p})",
    "EXISTS (SELECT 1 FROM agents_knowledgedocument WHERE placement_id = {p})",
)
_STOCK_SQL = "SELECT " + ", ".join(part.format(p="%(p)s") for part in _STOCK_PARTS)


def stock_annotation(placement_column: str) -> RawSQL:
    """The same five figures as one value (an array) of another query whose rows name the
    placement in `placement_column` (quoted SQL): the turn's lock reads them, so the stock
    costs no round trip of its own (turn_stock_keep)."""
    parts = [part.format(p=placement_column) for part in _STOCK_PARTS]
    parts[-1] = f"({parts[-1]})::int"
    # Constant SQL: the parts above and a column name the caller writes, never input.
    return RawSQL(f"ARRAY[{', '.join(parts)}]::bigint[]", [], output_field=ArrayField(BigIntegerField()))  # noqa: S611


def turn_stock_keep(placement_id: int, figures: Sequence[int]) -> None:
    """Within turn_reads, the placement's stock as stock_annotation read it."""
    memo = _TURN.get()
    if memo is not None:
        items, items_last, chunks, chunks_last, documents = figures
        memo[("stock", placement_id)] = Stock(items, items_last, chunks, chunks_last, bool(documents))


def placement_stock(placement_id: int) -> Stock:
    """One round trip (once per turn inside turn_reads)."""

    def load() -> Stock:
        with connection.cursor() as cursor:
            cursor.execute(_STOCK_SQL, {"p": placement_id})
            items, items_last, chunks, chunks_last, documents = cursor.fetchone()
        return Stock(items, items_last, chunks, chunks_last, bool(documents))

    return _memo(("stock", placement_id), load)


_VOCABULARY: dict[int, tuple[tuple[int, int, int, int], frozenset[str]]] = {}
_CATALOG: dict[int, tuple[tuple[int, int, int, int], tuple[dict[str, Any], ...]]] = {}
CATALOG_ROWS_KEPT = 500


def placement_vocabulary(placement_id: int) -> frozenset[str]:
    """The words of the partner's catalog and documents (what a typo is corrected to),
    cached per process until the catalog or the documents change."""
    signature = placement_stock(placement_id).signature
    cached = _VOCABULARY.get(placement_id)
    if cached and cached[0] == signature:
        return cached[1]
    words: set[str] = set()
    for row in CatalogItem.objects.filter(placement_id=placement_id).values_list("terms", flat=True):
        words.update(row)
    for row in KnowledgeChunk.objects.filter(placement_id=placement_id).values_list("terms", flat=True):
        words.update(row)
    found = frozenset(words)
    _VOCABULARY[placement_id] = (signature, found)
    return found


def placement_catalog(placement_id: int, limit: int) -> list[dict[str, Any]]:
    """The first `limit` (at most CATALOG_ROWS_KEPT) items of the catalog by sku, as rows
    (sku, name, description, price, currency, tags), cached per process until the catalog
    changes. The rows are shared: read them, never change them."""
    assert limit <= CATALOG_ROWS_KEPT
    signature = placement_stock(placement_id).signature
    cached = _CATALOG.get(placement_id)
    if cached is not None and cached[0] == signature:
        rows = cached[1]
    else:
        rows = tuple(
            dict(row)
            for row in CatalogItem.objects.filter(placement_id=placement_id)
            .order_by("sku")
            .values("sku", "name", "description", "price", "currency", "tags")[:CATALOG_ROWS_KEPT]
        )
        _CATALOG[placement_id] = (signature, rows)
    return list(rows[:limit])


def placement_offers(placement_id: int) -> list[CouponOffer]:
    """The placement's active offers, oldest first (read once per turn)."""
    return _memo(
        ("offers", placement_id),
        lambda: list(CouponOffer.objects.filter(placement_id=placement_id, active=True).order_by("id")),
    )


# --- replies nobody is making (the beat's reply_sweep) ---------------------------------------


def replies_stalled(
    *, older_than: timedelta | None = None, within: timedelta | None = None, limit: int | None = None
) -> list[int]:
    """Customers' messages still waiting for the employee's reply, written before `older_than`
    ago (settings.STALLED_REPLY_AFTER) but within `within` (settings.STALLED_REPLY_UNTIL),
    oldest first, at most `limit` (settings.STALLED_WORK_BATCH): their message to the worker
    was lost, or the worker died. One a worker is answering right now is passed over:
    message_answer holds the message's row lock for the whole turn."""
    now = timezone.now()
    older_than = settings.STALLED_REPLY_AFTER if older_than is None else older_than
    within = settings.STALLED_REPLY_UNTIL if within is None else within
    limit = settings.STALLED_WORK_BATCH if limit is None else limit
    with transaction.atomic():  # the row locks SKIP LOCKED takes end with it
        return list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(
                role=Message.Role.USER,
                status=Message.Status.PENDING,
                created_at__lt=now - older_than,
                created_at__gte=now - within,
            )
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )


# --- the widget (anonymous callers: no viewer) ----------------------------------------------


def widget_by_key(*, key: Any) -> Widget:
    # A key PostgreSQL cannot even compare (a NUL byte) names no widget either.
    if not isinstance(key, str) or not key or len(key) > 64 or "\x00" in key:
        raise NotFound(_("Unknown widget key."), fields={"key": ["No widget has this publishable key."]})
    widget = (
        Widget.objects.select_related("placement__partner", "placement__employee").filter(publishable_key=key).first()
    )
    if widget is None:
        raise NotFound(_("Unknown widget key."), fields={"key": ["No widget has this publishable key."]})
    return widget


def widget_conversation(*, widget: Widget, public_id: str) -> Conversation:
    conversation = Conversation.objects.filter(
        placement_id=widget.placement_id, public_id=public_id, channel=Conversation.Channel.WIDGET
    ).first()
    if conversation is None:
        raise NotFound(_("No such conversation."))
    return conversation


def widget_for_placement(*, placement: Placement) -> Widget | None:
    return Widget.objects.filter(placement=placement).first()


# --- conversations and transcripts ----------------------------------------------------------


def conversation_list(*, viewer: Any, placement: Placement | None = None) -> QuerySet[Conversation]:
    conversations = (
        Conversation.objects.filter(placement__partner__in=partners_visible(viewer=viewer))
        .select_related("placement__partner", "placement__employee", "started_by")
        .annotate(message_count=Count("messages"))
    )
    if placement is not None:
        conversations = conversations.filter(placement=placement)
    return conversations.order_by("-created_at", "-id")


def conversation_get(*, viewer: Any, conversation_id: int) -> Conversation:
    conversation = conversation_list(viewer=viewer).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound(_("No conversation %(conversation_id)s.") % {"conversation_id": conversation_id})
    return conversation


def transcript(*, conversation: Conversation, after: int = 0) -> list[Message]:
    """The conversation's messages in order, with what each reply rests on (coupon, draft)."""
    return list(
        conversation.messages.filter(pk__gt=after)
        .select_related(
            "reply_to__coupon__offer",
            "reply_to__copy_draft",
            "sender",
            "conversation__placement__partner",
            "conversation__placement__employee",
        )
        .order_by("created_at", "id")
    )


def message_get(*, conversation: Conversation, message_id: int) -> Message:
    message = conversation.messages.filter(pk=message_id).first()
    if message is None:
        raise NotFound(_("No message %(message_id)s in this conversation.") % {"message_id": message_id})
    return message


def reply_for(*, message: Message) -> Message | None:
    return (
        Message.objects.select_related("reply_to__coupon__offer", "reply_to__copy_draft")
        .filter(reply_to=message)
        .first()
    )


def message_public(message: Message) -> dict[str, Any]:
    """A message as the widget and the portal show it."""
    data: dict[str, Any] = {
        "id": message.pk,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
    }
    if message.role == Message.Role.STAFF:
        data["sender"] = f"{message.conversation.placement.partner.name} staff"
    if message.role == Message.Role.ASSISTANT:
        inbound = message.reply_to
        coupon = getattr(inbound, "coupon", None) if inbound is not None else None
        if coupon is None and inbound is not None and message.intent == "coupon":
            # The code issued earlier in the conversation for the same offer, given again.
            coupon = next(
                (
                    c
                    for c in IssuedCoupon.objects.filter(conversation_id=message.conversation_id).select_related(
                        "offer"
                    )
                    if c.code in message.content
                ),
                None,
            )
        data["coupon"] = (
            {"code": coupon.code, "offer": coupon.offer.title, "percent_off": coupon.offer.percent_off}
            if coupon is not None
            else None
        )
        data["products"] = message.products
        data["citations"] = [{"title": c["title"]} for c in message.citations]
        data["confidence"] = message.confidence
    return data


# --- knowledge and review ------------------------------------------------------------------


def placement_knowledge(*, viewer: Any, placement_id: int) -> dict[str, Any]:
    placement = placement_get(viewer=viewer, placement_id=placement_id)
    return {
        "placement": placement,
        "catalog": CatalogItem.objects.filter(placement=placement).order_by("sku"),
        "documents": KnowledgeDocument.objects.filter(placement=placement).annotate(passages=Count("chunks")),
        "offers": CouponOffer.objects.filter(placement=placement).order_by("id"),
        "widget": widget_for_placement(placement=placement),
    }


def copy_drafts(*, viewer: Any, status: str | None = None) -> QuerySet[CopyDraft]:
    drafts = CopyDraft.objects.filter(placement__partner__in=partners_visible(viewer=viewer)).select_related(
        "placement__employee", "placement__partner", "reviewed_by"
    )
    if status:
        drafts = drafts.filter(status=status)
    return drafts.order_by("-created_at", "-id")


def copy_draft_get(*, viewer: Any, draft_id: int) -> CopyDraft:
    draft = copy_drafts(viewer=viewer).filter(pk=draft_id).first()
    if draft is None:
        raise NotFound(_("No draft %(draft_id)s.") % {"draft_id": draft_id})
    return draft


# --- economics: value created next to value captured ----------------------------------------


@dataclass(frozen=True)
class Economics:
    turns: int
    calls: int
    failed_calls: int
    tokens_in: int
    tokens_out: int
    token_cost: dict[str, Decimal]  # minor units, unrounded, per currency
    wage: dict[str, int]  # approved statements' wages, minor units per currency
    attributed_revenue: dict[str, int]
    per_call: dict[str, Decimal]  # what per-call pricing would have charged, minor units

    def money(self, amounts: dict[str, Any]) -> list[str]:
        out = []
        for currency, amount in sorted(amounts.items()):
            rounded = int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            out.append(format_money(rounded, currency))
        return out or ["—"]

    @property
    def per_call_display(self) -> list[str]:
        return self.money(self.per_call)

    @property
    def wage_display(self) -> list[str]:
        return self.money(self.wage)

    @property
    def revenue_display(self) -> list[str]:
        return self.money(self.attributed_revenue)

    @property
    def token_cost_display(self) -> list[str]:
        # Token costs are fractions of a cent: show them to a millionth of the major unit.
        out = []
        for currency, minor in sorted(self.token_cost.items()):
            major = minor.scaleb(-MINOR_UNIT_EXPONENT[currency]).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
            out.append(f"{currency} {major:,}")
        return out or ["—"]


def _per_call_price_minor(currency: str) -> Decimal | None:
    price = (settings.AGENT_PER_CALL_PRICES or {}).get(currency)
    if price is None:
        return None
    return Decimal(str(price)).scaleb(MINOR_UNIT_EXPONENT[currency])


def economics(*, placements: QuerySet[Placement]) -> Economics:
    """Token cost of the placements' runs, the wage they earned (approved statements) and
    what per-call pricing would have charged for the same model calls."""
    runs = AgentRun.objects.filter(placement__in=placements)
    totals = runs.aggregate(
        calls=Count("id"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        turns=Count("message", distinct=True),
    )
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for row in runs.values("cost_currency").annotate(total=Sum("cost")):
        cost[row["cost_currency"]] += row["total"] or Decimal(0)
    per_call: dict[str, Decimal] = defaultdict(Decimal)
    for row in runs.values("placement__partner__currency").annotate(calls=Count("id")):
        price = _per_call_price_minor(row["placement__partner__currency"])
        if price is not None:
            per_call[row["placement__partner__currency"]] += price * row["calls"]
    wage: dict[str, int] = defaultdict(int)
    revenue: dict[str, int] = defaultdict(int)
    statements = Statement.objects.filter(contract__placement__in=placements, status="approved")
    for row in statements.values("currency").annotate(wage=Sum("wage"), net=Sum("net")):
        wage[row["currency"]] += row["wage"] or 0
        revenue[row["currency"]] += row["net"] or 0
    return Economics(
        turns=totals["turns"] or 0,
        calls=totals["calls"] or 0,
        failed_calls=runs.filter(status=AgentRun.Status.ERROR).count(),
        tokens_in=totals["tokens_in"] or 0,
        tokens_out=totals["tokens_out"] or 0,
        token_cost=dict(cost),
        wage=dict(wage),
        attributed_revenue=dict(revenue),
        per_call=dict(per_call),
    )


def placement_economics(*, viewer: Any, placement_id: int) -> tuple[Placement, Economics]:
    placement = placement_get(viewer=viewer, placement_id=placement_id)
    return placement, economics(placements=Placement.objects.filter(pk=placement.pk))


def employee_economics(*, viewer: Any, slug: str) -> list[tuple[Placement, Economics]]:
    """Per placement of one employee among those the viewer may see, plus nothing else."""
    placements = placement_list(viewer=viewer).filter(employee__slug=slug)
    if not placements.exists():
        raise NotFound(_("No placements of %(slug)r to show.") % {"slug": slug})
    return [(p, economics(placements=Placement.objects.filter(pk=p.pk))) for p in placements]
