"""Agents' data (DESIGN.md §6): what a placement's employee knows (catalog, documents,
offers), where people reach it (the widget), what was said (conversations, messages) and
what each turn cost (agent runs), plus the copy drafts waiting for a human.

Idempotency lives here as data: a reply is unique per inbound message (a one-to-one
`reply_to`), a coupon code is unique and at most one is issued per shopper message, a copy
draft is one per brief message."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class CatalogItem(models.Model):
    """One product of the partner's catalog for a placement (CSV upload)."""

    placement = models.ForeignKey("contracts.Placement", on_delete=models.CASCADE, related_name="catalog_items")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.BigIntegerField(help_text="Minor units of the partner's currency.")
    currency = models.CharField(max_length=3)
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    # Normalised search terms (agents.retrieval.terms), GIN-indexed for retrieval.
    terms = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["placement", "sku"], name="catalog_item_sku_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_item_price_not_negative"),
        ]
        indexes = [GinIndex(fields=["terms"], name="catalog_item_terms_gin")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class KnowledgeDocument(models.Model):
    """An FAQ or policy document the partner uploaded (text or markdown)."""

    placement = models.ForeignKey("contracts.Placement", on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    filename = models.CharField(max_length=200)
    body = models.TextField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["placement", "title"], name="knowledge_document_title_unique"),
        ]

    def __str__(self) -> str:
        return self.title


class KnowledgeChunk(models.Model):
    """A passage of a document: the unit of retrieval and of citation."""

    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="chunks")
    placement = models.ForeignKey("contracts.Placement", on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    terms = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="knowledge_chunk_ordinal_unique"),
        ]
        indexes = [GinIndex(fields=["terms"], name="knowledge_chunk_terms_gin")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class CouponOffer(models.Model):
    """A deal the partner configured. The employee issues codes for these and nothing else."""

    placement = models.ForeignKey("contracts.Placement", on_delete=models.CASCADE, related_name="offers")
    title = models.CharField(max_length=160)
    percent_off = models.PositiveSmallIntegerField()
    code_prefix = models.CharField(max_length=12)
    # Empty: the offer applies to the whole catalog; else only to items carrying one of these tags.
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent_off__gte=1) & Q(percent_off__lte=90), name="coupon_offer_percent_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Widget(models.Model):
    """The embeddable chat widget of one placement: a publishable key and the sites that may use it."""

    placement = models.OneToOneField("contracts.Placement", on_delete=models.CASCADE, related_name="widget")
    publishable_key = models.CharField(max_length=64, unique=True)
    allowed_origins = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.publishable_key


class Conversation(models.Model):
    class Channel(models.TextChoices):
        PORTAL = "portal", _("Partner portal")
        WIDGET = "widget", _("Website widget")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ESCALATED = "escalated", _("Escalated to a human")
        RESOLVED = "resolved", _("Resolved")

    # The conversation id partners see and may send back with a sale or an outcome.
    public_id = models.CharField(max_length=40, unique=True)
    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="conversations")
    skill = models.CharField(max_length=40)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Widget visitors prove they own the conversation with a secret token; its digest is kept.
    visitor_token_digest = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.CharField(max_length=300, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=16, blank=True)  # "customer" or "partner"
    reopened_at = models.DateTimeField(null=True, blank=True)
    # The dialogue manager's state (agents.dialogue.DialogueState): products shown, the
    # offer in play, the open question, the language. Saved with each turn.
    dialogue = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "escalated", "resolved"]), name="conversation_status_valid"
            ),
            models.CheckConstraint(condition=Q(channel__in=["portal", "widget"]), name="conversation_channel_valid"),
        ]
        indexes = [models.Index(fields=["placement", "-created_at"], name="conversation_placement_idx")]

    def __str__(self) -> str:
        return self.public_id


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("Customer")
        ASSISTANT = "assistant", _("Employee")
        STAFF = "staff", _("Partner staff")  # a human who took over an escalated conversation

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a reply")
        WAITING = "waiting", _("Waiting for a human")  # written while the conversation is escalated
        ANSWERED = "answered", _("Answered")
        FAILED = "failed", _("Answered with an apology")
        SENT = "sent", _("Sent")  # the employee's and staff's own messages

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices)
    # The inbound message this one answers: at most one reply per message (idempotency key).
    reply_to = models.OneToOneField("self", null=True, blank=True, on_delete=models.CASCADE, related_name="reply")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the reply rests on: [{"document": id, "title": …}], [{"sku": …, "name": …, "price": …}].
    citations = models.JSONField(default=list, blank=True)
    products = models.JSONField(default=list, blank=True)
    intent = models.CharField(max_length=32, blank=True)
    # How sure the employee is that the reply answers the message (0–1); under
    # agents.dialogue.ESCALATE_BELOW a question goes to a person instead.
    confidence = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=["user", "assistant", "staff"]), name="message_role_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "waiting", "answered", "failed", "sent"]),
                name="message_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(role="user") | Q(reply_to__isnull=False) | Q(status="sent"), name="message_reply_has_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.pk}"


class IssuedCoupon(models.Model):
    """A unique coupon code the employee issued in a conversation (recorded as a touchpoint)."""

    code = models.CharField(max_length=32, unique=True)
    offer = models.ForeignKey(CouponOffer, on_delete=models.PROTECT, related_name="issued")
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="coupons")
    # The shopper's message that asked for the deal: one coupon per message, however often
    # the reply task runs.
    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="coupon")
    # The touchpoint's partner: the foreign key is (partner_id, touchpoint_id) →
    # revenue_touchpointkey in the database (revenue_touchpoint is partitioned by month;
    # revenue migration 0020).
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    touchpoint = models.ForeignKey(
        "revenue.Touchpoint", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code


class CopyDraft(models.Model):
    """Campaign copy the copywriter drafted; it counts as delivered work once approved."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="copy_drafts")
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="copy_drafts")
    # The brief's message: one draft per brief, however often the reply task runs.
    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="copy_draft")
    brief = models.TextField()
    text = models.TextField()
    original_text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected"]), name="copy_draft_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"draft {self.pk} ({self.status})"

    @property
    def edited(self) -> bool:
        return self.text != self.original_text


class AgentRun(models.Model):
    """One model call made for one inbound message: which model, tokens, cost, latency."""

    class Status(models.TextChoices):
        OK = "ok", _("Succeeded")
        ERROR = "error", _("Failed")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="runs")
    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="agent_runs")
    skill = models.CharField(max_length=40)
    step = models.CharField(max_length=32)  # "route", "respond", …
    attempt = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=16)
    model = models.CharField(max_length=120)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=8, default=0)
    cost_currency = models.CharField(max_length=3)
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["ok", "error"]), name="agent_run_status_valid"),
        ]
        indexes = [models.Index(fields=["placement", "created_at"], name="agent_run_placement_idx")]

    def __str__(self) -> str:
        return f"{self.step} {self.model} ({self.status})"
