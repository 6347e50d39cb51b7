from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.timezone import now

from core.currencies import CURRENCY_CHOICES


class Account(models.Model):
    """A ledger account. Codes name what they track: `partner_receivable:<partner slug>`,
    `payee_payable:<payee slug>`, `platform_revenue`, `cash:<provider>` (DESIGN.md §4).
    One currency per account, so a balance is always a single number."""

    class Kind(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"
        REVENUE = "revenue", "Revenue"

    code = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["code", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["code", "currency"], name="account_code_currency"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class JournalEntry(models.Model):
    """One business event in the ledger. Its lines sum to zero per currency — checked by a
    deferred constraint trigger at commit (migration 0002) — and, once posted, neither the
    entry nor its lines change: a mistake is corrected by a reversing entry."""

    # What posted it, e.g. "statement:42:approved"; unique, so a retried post is a no-op.
    idempotency_key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=300)
    occurred_on = models.DateField()
    posted_at = models.DateTimeField(default=now)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )

    class Meta:
        ordering = ["-posted_at", "-id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"#{self.pk} {self.memo}"


class JournalLine(models.Model):
    """Debits are positive, credits negative, in the account currency's minor unit."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    amount = models.BigIntegerField()
    # Copied from the account so the balance trigger can sum per currency without a join
    # and so a line can never silently change currency.
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="journal_line_nonzero"),
        ]
        indexes = [models.Index(fields=["account", "entry"])]

    def __str__(self) -> str:
        side = "Dr" if self.amount > 0 else "Cr"
        return f"{side} {self.account.code} {abs(self.amount)} {self.currency}"


class Touchpoint(models.Model):
    """Evidence that an employee touched a sale-to-be: a coupon it issued, a tracked
    link's click id, a conversation it held. Keys are unique per partner and kind."""

    class Kind(models.TextChoices):
        COUPON = "coupon", "Coupon code"
        CLICK = "click", "Click id"
        CONVERSATION = "conversation", "Conversation id"

    class Source(models.TextChoices):
        AGENT = "agent", "Issued by the employee"
        PARTNER_API = "partner_api", "Posted by the partner"

    # The unique (partner, kind, key) index leads with the partner: no index of its own.
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+", db_index=False)
    placement = models.ForeignKey(
        "contracts.Placement", on_delete=models.PROTECT, related_name="touchpoints"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "kind", "key"], name="touchpoint_key_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=["coupon", "click", "conversation"]), name="touchpoint_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


# The sale field each touchpoint kind is matched against (DESIGN.md §5a "keys").
SALE_KEY_FOR_KIND = {
    Touchpoint.Kind.COUPON: "coupon_code",
    Touchpoint.Kind.CLICK: "click_id",
    Touchpoint.Kind.CONVERSATION: "conversation_id",
}


class Statement(models.Model):
    """What one contract earned in one period, line by line (DESIGN.md §5a)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        INVOICED = "invoiced", "Invoiced"
        PAID = "paid", "Paid"
        # Approved with nothing payable (a zero period, or one that carries a credit): settled,
        # never invoiced, and "nothing due" to the partner.
        CLOSED = "closed", "Nothing due"

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
            models.CheckConstraint(
                condition=Q(credit_carried_forward__gte=0), name="statement_credit_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"Statement {self.period:%Y-%m} for contract {self.contract_id}"


class StatementLine(models.Model):
    class Kind(models.TextChoices):
        ATTRIBUTED_SALES = "attributed_sales", "Attributed sales"
        LATE_SALES = "late_sales", "Late sales"
        REFUNDS = "refunds", "Refunds"
        SHARE = "share", "Revenue share"
        OUTCOME_FEE = "outcome_fee", "Outcome fees"
        MINIMUM_TOP_UP = "minimum_top_up", "Minimum wage top-up"
        CAP = "cap", "Cap"
        CLAWBACK = "clawback", "Clawback"
        OUTCOME_CLAWBACK = "outcome_clawback", "Outcome clawback"
        CARRIED_CREDIT = "carried_credit", "Credit carried forward"
        ADJUSTMENT = "adjustment", "Finance adjustment"

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
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

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
        SALE = "sale", "Sale"
        REFUND = "refund", "Refund"

    class Attribution(models.TextChoices):
        PENDING = "pending", "Pending"
        ATTRIBUTED = "attributed", "Attributed"
        UNATTRIBUTED = "unattributed", "Not attributed"

    # Every index here is paid for on each of millions of inserts, so foreign keys carry
    # none of their own: the partner is the unique key's first column, and the others get
    # partial indexes below that skip the NULLs most rows hold.
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+",
                                db_index=False)
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
    refund_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds", db_index=False
    )
    # The month containing occurred_at in the partner's zone; set once at ingestion.
    period = models.DateField()
    # Digest of the event as posted: the same id with the same digest is a duplicate,
    # with another digest a conflict.
    content_digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=now)
    upload = models.ForeignKey(SaleUpload, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               db_index=False)
    attribution = models.CharField(max_length=16, choices=Attribution.choices, default=Attribution.PENDING)
    placement = models.ForeignKey(
        "contracts.Placement", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )
    touchpoint = models.ForeignKey(Touchpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   db_index=False)
    attributed_key = models.CharField(max_length=20, blank=True)
    attribution_note = models.CharField(max_length=300, blank=True)
    # The approved statement this event was settled in; null while unsettled.
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "external_id"], name="sale_external_id_unique"),
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
            models.Index(fields=["placement", "period"], name="sale_placement_period",
                         condition=Q(placement__isnull=False)),
            models.Index(fields=["refund_of"], name="sale_refund_of", condition=Q(refund_of__isnull=False)),
            models.Index(fields=["statement"], name="sale_statement", condition=Q(statement__isnull=False)),
            models.Index(fields=["upload"], name="sale_upload", condition=Q(upload__isnull=False)),
            # The partner's sales list: a month's sales, newest first, one page at a time.
            models.Index(F("partner"), F("period"), F("occurred_at").desc(), F("id").desc(),
                         name="sale_partner_period_recent"),
            # The partner's revenue chart: attributed sales (those with a placement) summed per
            # month from the index alone (migration 0011, found by benchmarks/load_mixed.py).
            models.Index(fields=["partner", "period"], include=["amount", "currency"],
                         condition=Q(placement__isnull=False, type="sale"), name="sale_attributed_month"),
            # A late touchpoint finds the unsettled sales carrying its key (DESIGN.md §5.3).
            models.Index(fields=["partner", "coupon_code"], name="sale_coupon_code",
                         condition=Q(coupon_code__isnull=False)),
            models.Index(fields=["partner", "click_id"], name="sale_click_id",
                         condition=Q(click_id__isnull=False)),
            models.Index(fields=["partner", "conversation_id"], name="sale_conversation_id",
                         condition=Q(conversation_id__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id}"


class Outcome(models.Model):
    """A billable result of an employee's work (a confirmed resolution, a delivered
    work), counted by its own time like a sale; a withdrawn outcome does not count."""

    class Kind(models.TextChoices):
        RESOLUTION = "resolution", "Resolution"
        DELIVERED_WORK = "delivered_work", "Delivered work"

    placement = models.ForeignKey("contracts.Placement", on_delete=models.PROTECT, related_name="outcomes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    external_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    period = models.DateField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The statement that clawed back the fee of a withdrawn outcome already settled (§5a).
    reversal_statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["placement", "kind", "external_id"], name="outcome_unique"),
            models.CheckConstraint(
                condition=Q(reversal_statement__isnull=True)
                | (Q(statement__isnull=False) & Q(withdrawn_at__isnull=False)),
                name="outcome_reversal_of_settled_withdrawal"),
            models.CheckConstraint(condition=Q(kind__in=["resolution", "delivered_work"]),
                                   name="outcome_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class SettlementRun(models.Model):
    """One run of settlement for a period, with progress for the finance console."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

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


# --- payments: collection, payouts, reconciliation (DESIGN.md §4, §5.5) ---------------------


class Invoice(models.Model):
    """An approved statement billed to its partner, once: the statement is unique here and
    the provider's idempotency keys derive from it. `payment_entry` is the ledger's
    Dr cash / Cr partner receivable, present exactly when the invoice is paid."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Being issued"
        OPEN = "open", "Open"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    statement = models.OneToOneField(Statement, on_delete=models.PROTECT, related_name="invoice")
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=16)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    idempotency_key = models.CharField(max_length=200, unique=True)
    provider_invoice_id = models.CharField(max_length=64, blank=True, default="")
    number = models.CharField(max_length=64, blank=True, default="")
    hosted_url = models.CharField(max_length=500, blank=True, default="")
    failure_message = models.CharField(max_length=300, blank=True, default="")
    issue_error = models.CharField(max_length=300, blank=True, default="")
    # Raised when finance issues again after a refusal: the provider keys of a new attempt
    # differ, as Stripe keeps a refused request's answer under its key.
    issue_attempt = models.PositiveIntegerField(default=1)
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    payment_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_payment"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "payment_failed", "paid", "void"]),
                name="invoice_status_valid",
            ),
            models.CheckConstraint(
                condition=(Q(status="paid") & Q(payment_entry__isnull=False) & Q(paid_at__isnull=False))
                | (~Q(status="paid") & Q(payment_entry__isnull=True)),
                name="invoice_paid_has_entry",
            ),
            models.UniqueConstraint(fields=["provider", "provider_invoice_id"], condition=~Q(provider_invoice_id=""),
                                    name="invoice_provider_id_unique"),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number or self.pk} ({self.status})"


class WebhookEvent(models.Model):
    """Each provider event, stored once (its id is unique): a replay finds it and changes
    nothing."""

    class Outcome(models.TextChoices):
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        REJECTED = "rejected", "Rejected"

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    created = models.BigIntegerField(help_text="The event's own time (Unix seconds).")
    payload = models.JSONField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.CharField(max_length=300, blank=True, default="")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    received_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PayoutRun(models.Model):
    """One run of payouts, with progress for the finance console."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    as_of = models.DateTimeField(help_text="Money collected before this, less each hold, is due.")
    trigger = models.CharField(max_length=16, default="console")  # console, beat, command
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payouts_total = models.IntegerField(default=0)
    payouts_done = models.IntegerField(default=0)
    payouts_sent = models.IntegerField(default=0)
    payouts_failed = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["queued", "running", "done", "failed"]),
                                   name="payout_run_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Payout run #{self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.payouts_done / self.payouts_total) if self.payouts_total else 0


class Payout(models.Model):
    """What one run pays one payee in one currency: one transfer. Its ledger entry's key is
    `payout:<id>:sent`; the provider's idempotency key derives from it and the attempt, so
    an unanswered attempt is retried under the same key (never paid twice) and only an
    attempt the provider refused is retried under the next one."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="payouts")
    payee = models.ForeignKey("contracts.Payee", on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=16)
    destination = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveIntegerField(default=1)
    provider_transfer_id = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=300, blank=True, default="")
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="payout"
    )
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=["pending", "sent", "failed"]), name="payout_status_valid"),
            models.CheckConstraint(
                condition=(Q(status="sent") & Q(journal_entry__isnull=False))
                | (~Q(status="sent") & Q(journal_entry__isnull=True)),
                name="payout_sent_has_entry",
            ),
            models.UniqueConstraint(fields=["provider", "provider_transfer_id"],
                                    condition=~Q(provider_transfer_id=""), name="payout_transfer_unique"),
        ]

    def __str__(self) -> str:
        return f"Payout #{self.pk} to {self.payee_id}: {self.amount} {self.currency}"

    @property
    def ledger_key(self) -> str:
        return f"payout:{self.pk}:sent"

    @property
    def transfer_key(self) -> str:
        return f"{self.ledger_key}:attempt-{self.attempt}"


class PayoutItem(models.Model):
    """A statement split a payout pays. One split is paid by at most one payout, ever."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="items")
    split = models.OneToOneField(StatementSplit, on_delete=models.PROTECT, related_name="payout_item")
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["payout_id", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_positive")]

    def __str__(self) -> str:
        return f"{self.split_id} → {self.payout_id}"


class ReconciliationRun(models.Model):
    """The ledger's cash and receivables against the provider's invoices and transfers."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    invoices_checked = models.IntegerField(default=0)
    transfers_checked = models.IntegerField(default=0)
    mismatches = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Reconciliation #{self.pk} ({self.mismatches} mismatches)"


class ReconciliationItem(models.Model):
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=40)
    reference = models.CharField(max_length=120)
    expected = models.CharField(max_length=120, blank=True, default="")
    actual = models.CharField(max_length=120, blank=True, default="")
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["run_id", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.reference}"
