from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from core.currencies import CURRENCY_CHOICES
from ledger.models import JournalEntry


class Touchpoint(models.Model):
    """Evidence that an employee touched a sale-to-be: a coupon it issued, a tracked
    link's click id, a conversation it held. Keys are unique per partner and kind."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon code")
        CLICK = "click", _("Click id")
        CONVERSATION = "conversation", _("Conversation id")

    class Source(models.TextChoices):
        AGENT = "agent", _("Issued by the employee")
        PARTNER_API = "partner_api", _("Posted by the partner")

    # The (partner, kind, key) index leads with the partner: no index of its own.
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="touchpoints")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(default=now)

    class Meta:
        # revenue_touchpoint is partitioned by month on occurred_at (migration 0020,
        # docs/scaling.md): its primary key in the database is (id, partner_id, occurred_at),
        # and (partner, kind, key) is kept unique across months by TouchpointKey.
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["coupon", "click", "conversation"]), name="touchpoint_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class TouchpointKey(models.Model):
    """A touchpoint's key, (partner, kind, key), unique across every month of the partitioned
    touchpoints table, as SaleKey is for sales: ingestion claims keys here and stores the
    touchpoints it claimed in the same statement; triggers on revenue_touchpoint keep it exact
    for touchpoints stored any other way. Foreign keys that name a touchpoint reference
    (partner_id, touchpoint_id) here (migration 0020)."""

    pk = models.CompositePrimaryKey("partner_id", "kind", "key")
    partner_id = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    key = models.CharField(max_length=128)
    touchpoint_id = models.BigIntegerField()
    # The touch's instant (the partition key): where to find it without visiting every month.
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner_id", "touchpoint_id"], name="touchpointkey_touchpoint_unique")
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.kind}/{self.key} → {self.touchpoint_id}"


# The sale field each touchpoint kind is matched against (DESIGN.md §5a "keys").
SALE_KEY_FOR_KIND = {
    Touchpoint.Kind.COUPON: "coupon_code",
    Touchpoint.Kind.CLICK: "click_id",
    Touchpoint.Kind.CONVERSATION: "conversation_id",
}


class Statement(models.Model):
    """What one contract earned in one period, line by line (DESIGN.md §5a)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        APPROVED = "approved", _("Approved")
        INVOICED = "invoiced", _("Invoiced")
        PAID = "paid", _("Paid")
        # Approved with nothing payable (a zero period, or one that carries a credit): settled,
        # never invoiced, and "nothing due" to the partner.
        CLOSED = "closed", _("Nothing due")

    contract = models.ForeignKey("contracts.Contract", on_delete=models.PROTECT, related_name="statements")
    period = models.DateField(help_text="First day of the month, in the partner's zone.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    version_number = models.PositiveIntegerField(help_text="The contract version rated.")
    net = models.BigIntegerField(default=0)
    share_precise = models.DecimalField(max_digits=40, decimal_places=12, default=0)
    # share ÷ net: the rate later refunds of this statement's sales are clawed back at.
    # Kept to 70 places: share ÷ net is rarely exact, and a rate cut short can turn an exact
    # half-unit clawback into a rounding down (rating rounds it away from zero at 60 digits).
    effective_rate = models.DecimalField(max_digits=72, decimal_places=70, default=0)
    wage = models.BigIntegerField(default=0)
    clawback = models.BigIntegerField(default=0)
    # Fees of withdrawn outcomes already settled, given back (§5a): apart from `clawback`,
    # which is the refunds' clawback at the effective rate.
    outcome_clawback = models.BigIntegerField(default=0)
    carried_credit = models.BigIntegerField(default=0)
    adjustments = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    payable = models.BigIntegerField(default=0)
    credit_carried_forward = models.BigIntegerField(default=0)
    # (count, sum) of the events counted, to refuse approving a draft that new data made stale.
    fingerprint = models.CharField(max_length=200, default="")
    computed_at = models.DateTimeField(default=now)
    # Who sent it to review: four eyes (settings.FOUR_EYES_THRESHOLD) keep them from approving it.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="statement"
    )

    class Meta:
        ordering = ["-period", "contract_id"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "period"], name="statement_contract_period"),
            models.CheckConstraint(condition=Q(payable__gte=0), name="statement_payable_nonnegative"),
            models.CheckConstraint(condition=Q(credit_carried_forward__gte=0), name="statement_credit_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"Statement {self.period:%Y-%m} for contract {self.contract_id}"


class StatementLine(models.Model):
    class Kind(models.TextChoices):
        ATTRIBUTED_SALES = "attributed_sales", _("Attributed sales")
        LATE_SALES = "late_sales", _("Late sales")
        REFUNDS = "refunds", _("Refunds")
        SHARE = "share", _("Revenue share")
        OUTCOME_FEE = "outcome_fee", _("Outcome fees")
        MINIMUM_TOP_UP = "minimum_top_up", _("Minimum wage top-up")
        CAP = "cap", _("Cap")
        CLAWBACK = "clawback", _("Clawback")
        OUTCOME_CLAWBACK = "outcome_clawback", _("Outcome clawback")
        CARRIED_CREDIT = "carried_credit", _("Credit carried forward")
        ADJUSTMENT = "adjustment", _("Finance adjustment")

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=24, choices=Kind.choices)
    description = models.CharField(max_length=300)
    quantity = models.BigIntegerField(null=True, blank=True)
    # Revenue lines carry the revenue they describe; wage lines what they add to the total.
    revenue = models.BigIntegerField(null=True, blank=True)
    amount_precise = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    amount = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["statement_id", "position"]

    def __str__(self) -> str:
        return self.description


class StatementSplit(models.Model):
    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="splits")
    payee = models.ForeignKey("contracts.Payee", on_delete=models.PROTECT, related_name="+")
    share = models.DecimalField(max_digits=14, decimal_places=12)
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["statement_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "payee"], name="statement_split_payee"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="statement_split_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.payee_id}: {self.amount}"


class StatementAdjustment(models.Model):
    """A finance correction with a reason. Kept apart from the computed lines so that
    re-running the period keeps it."""

    contract = models.ForeignKey("contracts.Contract", on_delete=models.PROTECT, related_name="+")
    period = models.DateField()
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="adjustment_nonzero")]

    def __str__(self) -> str:
        return f"{self.amount}: {self.reason}"


class SaleUpload(models.Model):
    """A CSV file of sale events, processed by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PROCESSING = "processing", _("Processing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to="uploads/")
    original_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.BigIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)
    accepted = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class SaleUploadRejection(models.Model):
    upload = models.ForeignKey(SaleUpload, on_delete=models.CASCADE, related_name="rejections")
    row_number = models.BigIntegerField()
    column = models.CharField(max_length=40, blank=True)
    code = models.CharField(max_length=40)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["upload_id", "row_number", "id"]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"


class Sale(models.Model):
    """A sale or a refund the partner reported (DESIGN.md §5). Amounts are positive
    integers in the currency's minor unit; a refund names its sale."""

    class Type(models.TextChoices):
        SALE = "sale", _("Sale")
        REFUND = "refund", _("Refund")

    class Attribution(models.TextChoices):
        PENDING = "pending", _("Pending")
        ATTRIBUTED = "attributed", _("Attributed")
        UNATTRIBUTED = "unattributed", _("Not attributed")

    # Every index here is paid for on each of millions of inserts, so foreign keys carry
    # none of their own: the partner is the unique key's first column, and the others get
    # partial indexes below that skip the NULLs most rows hold.
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=128)
    type = models.CharField(max_length=8, choices=Type.choices)
    occurred_at = models.DateTimeField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    # NULL, not "", for an absent key: the partial key indexes then skip it and no join can
    # match two sales on an empty key.
    coupon_code = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    click_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    conversation_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    customer_ref = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    store_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    # The database enforces it through the key table: (partner_id, refund_of_id) references
    # revenue_salekey (partner_id, sale_id) (migration 0017, docs/scaling.md); a foreign key
    # into the partitioned table itself would have to carry the sale's period.
    refund_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        db_index=False,
        db_constraint=False,
    )
    # The month containing occurred_at in the partner's zone; set once at ingestion.
    period = models.DateField()
    # Digest of the event as posted: the same id with the same digest is a duplicate,
    # with another digest a conflict.
    content_digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=now)
    upload = models.ForeignKey(
        SaleUpload, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    attribution = models.CharField(max_length=16, choices=Attribution.choices, default=Attribution.PENDING)
    placement = models.ForeignKey(
        "contracts.Placement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # The constraint is (partner_id, touchpoint_id) → revenue_touchpointkey in the database
    # (migration 0020: revenue_touchpoint is partitioned by month).
    touchpoint = models.ForeignKey(
        Touchpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    attributed_key = models.CharField(max_length=20, blank=True)
    attribution_note = models.CharField(max_length=300, blank=True)
    # The approved statement this event was settled in; null while unsettled.
    statement = models.ForeignKey(
        Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        # revenue_sale is partitioned by month on `period` (migration 0017, docs/scaling.md):
        # its primary key in the database is (id, partner_id, period), and (partner,
        # external_id) is unique through SaleKey, which triggers keep in step with the sales.
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sale_amount_positive"),
            models.CheckConstraint(
                condition=(Q(type="sale") & Q(refund_of__isnull=True))
                | (Q(type="refund") & Q(refund_of__isnull=False)),
                name="sale_refund_names_its_sale",
            ),
        ]
        # No index covers `attribution` or the note: the attribution pass then rewrites
        # an unattributed sale as a HOT update (same page, no index entries), with the
        # table's fillfactor leaving the room (migration 0007).
        indexes = [
            models.Index(
                fields=["placement", "period"], name="sale_placement_period", condition=Q(placement__isnull=False)
            ),
            models.Index(fields=["refund_of"], name="sale_refund_of", condition=Q(refund_of__isnull=False)),
            models.Index(fields=["statement"], name="sale_statement", condition=Q(statement__isnull=False)),
            models.Index(fields=["upload"], name="sale_upload", condition=Q(upload__isnull=False)),
            # The partner's sales list: a month's sales, newest first, one page at a time.
            models.Index(
                F("partner"), F("period"), F("occurred_at").desc(), F("id").desc(), name="sale_partner_period_recent"
            ),
            # The partner's revenue chart: attributed sales (those with a placement) summed per
            # month from the index alone (migration 0011, found by benchmarks/load_mixed.py).
            models.Index(
                fields=["partner", "period"],
                include=["amount", "currency"],
                condition=Q(placement__isnull=False, type="sale"),
                name="sale_attributed_month",
            ),
            # A late touchpoint finds the unsettled sales carrying its key (DESIGN.md §5.3).
            models.Index(
                fields=["partner", "coupon_code"], name="sale_coupon_code", condition=Q(coupon_code__isnull=False)
            ),
            models.Index(fields=["partner", "click_id"], name="sale_click_id", condition=Q(click_id__isnull=False)),
            models.Index(
                fields=["partner", "conversation_id"],
                name="sale_conversation_id",
                condition=Q(conversation_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id}"


class SaleKey(models.Model):
    """A sale's idempotency key, (partner, external_id), unique across every month of the
    partitioned sales table (a unique index there would have to include the month). Ingestion
    claims keys here (`INSERT … ON CONFLICT DO NOTHING RETURNING`) and stores the sales it
    claimed in the same statement; a trigger on revenue_sale writes the key of a sale stored
    any other way and refuses a second sale with the same key, another removes it with its sale.
    Foreign keys that name a sale reference (partner_id, sale_id) here (migration 0017)."""

    pk = models.CompositePrimaryKey("partner_id", "external_id")
    partner_id = models.BigIntegerField()
    external_id = models.CharField(max_length=128)
    sale_id = models.BigIntegerField()
    # The sale's month: where to find it without visiting every partition.
    period = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner_id", "sale_id"], name="salekey_sale_unique")]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.external_id} → {self.sale_id}"


class Outcome(models.Model):
    """A billable result of an employee's work (a confirmed resolution, a delivered
    work), counted by its own time like a sale; a withdrawn outcome does not count."""

    class Kind(models.TextChoices):
        RESOLUTION = "resolution", _("Resolution")
        DELIVERED_WORK = "delivered_work", _("Delivered work")

    # The placement's partner, in the outcome's keys for Citus (migration 0019).
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="outcomes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    external_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    period = models.DateField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The statement that clawed back the fee of a withdrawn outcome already settled (§5a).
    reversal_statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        # revenue_outcome is partitioned by month on `period` (migration 0019, docs/scaling.md):
        # its primary key in the database is (id, partner_id, period), and (placement, kind,
        # external_id) is kept unique across months by OutcomeKey.
        constraints = [
            models.CheckConstraint(
                condition=Q(reversal_statement__isnull=True)
                | (Q(statement__isnull=False) & Q(withdrawn_at__isnull=False)),
                name="outcome_reversal_of_settled_withdrawal",
            ),
            models.CheckConstraint(condition=Q(kind__in=["resolution", "delivered_work"]), name="outcome_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class OutcomeKey(models.Model):
    """An outcome's idempotency key, (partner, placement, kind, external_id), unique across
    every month of the partitioned outcomes table, as SaleKey is for sales: ingestion claims
    keys here and stores the outcomes it claimed in the same statement; triggers on
    revenue_outcome keep it exact for outcomes stored any other way (migration 0019)."""

    pk = models.CompositePrimaryKey("partner_id", "placement_id", "kind", "external_id")
    partner_id = models.BigIntegerField()
    placement_id = models.BigIntegerField()
    kind = models.CharField(max_length=20)
    external_id = models.CharField(max_length=128)
    outcome_id = models.BigIntegerField()
    # The outcome's month: where to find it without visiting every partition.
    period = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner_id", "outcome_id"], name="outcomekey_outcome_unique")]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.placement_id}/{self.kind}/{self.external_id} → {self.outcome_id}"


class SettlementRun(models.Model):
    """One run of settlement for a period, with progress for the finance console."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    period = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    contracts_total = models.IntegerField(default=0)
    contracts_done = models.IntegerField(default=0)
    statements_written = models.IntegerField(default=0)
    attributed = models.BigIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    trigger = models.CharField(max_length=16, default="console")  # console, command, beat
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Settlement {self.period:%Y-%m} ({self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.contracts_done / self.contracts_total) if self.contracts_total else 0


class Inquiry(models.Model):
    """A partner's question about a statement in review, before money moves: about one of
    its revenue lines (every sale or refund behind it) or one sale or refund it counts.
    Finance accepts it (the sales are excluded or re-attributed, the statement re-rated) or
    rejects it with a reason; the partner may withdraw it. While one is open the statement
    cannot be approved.

    A line is named by its kind, not by a foreign key: recomputing a statement rewrites its
    lines, and the question stays about "the attributed sales" of that statement."""

    class Reason(models.TextChoices):
        NOT_OUR_CUSTOMER = "not_our_customer", "Not a customer the employee brought"
        WRONG_AMOUNT = "wrong_amount", "Wrong amount"
        REFUNDED = "refunded", "Refunded"
        DUPLICATE = "duplicate", "Duplicate"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="inquiries")
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+")
    line_kind = models.CharField(max_length=24, blank=True, choices=StatementLine.Kind.choices)
    # Enforced as (partner_id, sale_id) → revenue_salekey (partner_id, sale_id): see Sale.refund_of.
    sale = models.ForeignKey(
        Sale, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    reason = models.CharField(max_length=24, choices=Reason.choices)
    comment = models.TextField(max_length=4000)
    attachment = models.FileField(upload_to="inquiries/%Y/%m/", blank=True)
    attachment_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # A person, or None when the partner's system opened it with its API key (`opened_via`).
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_via = models.CharField(max_length=150)
    opened_at = models.DateTimeField(default=now)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=1000, blank=True)
    # Accepted with another placement of the same partner named: the sales went to it.
    reattributed_to = models.ForeignKey(
        "contracts.Placement", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the statement showed before and after an accepted inquiry re-rated it.
    figures_before = models.JSONField(default=dict, blank=True)
    figures_after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["statement_id", "opened_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(sale__isnull=True) & ~Q(line_kind="")) | (Q(sale__isnull=False) & Q(line_kind="")),
                name="inquiry_names_a_line_or_a_sale",
            ),
            models.UniqueConstraint(
                fields=["statement", "line_kind"],
                condition=Q(status="open", sale__isnull=True),
                name="inquiry_one_open_per_line",
            ),
            models.UniqueConstraint(
                fields=["statement", "sale"], condition=Q(status="open"), name="inquiry_one_open_per_sale"
            ),
        ]
        indexes = [models.Index(fields=["partner", "status"], name="inquiry_partner_status")]

    def __str__(self) -> str:
        return f"Inquiry #{self.pk} on statement {self.statement_id}"


class InquiryComment(models.Model):
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author_label = models.CharField(max_length=150)
    # The partner's side or the platform's (finance): the thread shows who speaks for whom.
    side = models.CharField(max_length=16, choices=[("partner", "Partner"), ("platform", "Platform")])
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["inquiry_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author_label}: {self.body[:40]}"


class SaleExclusion(models.Model):
    """A sale (or refund) finance took out of attribution by accepting an inquiry, or gave
    to another placement of the same partner (`placement`). Attribution reads these rows
    (revenue.services.attribution), so it stays a pure function of what is stored and no
    later pass counts the sale back (DESIGN.md §5a)."""

    # Enforced as (partner_id, sale_id) → revenue_salekey (partner_id, sale_id): see Sale.refund_of.
    sale = models.OneToOneField(Sale, on_delete=models.PROTECT, related_name="exclusion", db_constraint=False)
    # The sale's partner: every key into the sales carries it, so the table can be distributed
    # by partner (docs/scaling.md).
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    placement = models.ForeignKey(
        "contracts.Placement", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    inquiry = models.ForeignKey(Inquiry, on_delete=models.PROTECT, related_name="exclusions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["placement"], name="sale_exclusion_placement", condition=Q(placement__isnull=False))
        ]

    def __str__(self) -> str:
        return f"sale {self.sale_id} → {self.placement_id or 'excluded'}"


class SaleMonthlyRollup(models.Model):
    """Attributed sales (type sale, with a placement) per partner, placement, month and
    currency: what the portal's revenue chart shows, kept so it is not summed from the sales
    table on every view. Every write that gives a sale a placement or takes it away adds its
    delta here in the same statement (revenue.services.rollups.ROLLUP_APPLY_SQL), and
    rollup_reconcile compares it with the sales table and corrects any drift.

    Keyed by (partner, placement, period, currency), the partner first: it is the column the
    sales would be distributed by (Citus), and a distributed table's keys must include it.
    A group whose sales all moved away keeps a row of zeros; readers skip it."""

    pk = models.CompositePrimaryKey("partner_id", "placement_id", "period", "currency")
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="+", db_index=False)
    period = models.DateField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    sales = models.BigIntegerField(default=0)
    amount = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.placement_id} {self.period:%Y-%m} {self.currency}: {self.amount}"
