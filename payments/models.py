"""Money moving in and out (DESIGN.md §4, §5.5): invoices to partners, provider webhooks,
payout runs and transfers to payees, reconciliation against the provider."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.currencies import CURRENCY_CHOICES
from ledger.models import JournalEntry
from revenue.models import Statement, StatementSplit


class Invoice(models.Model):
    """An approved statement billed to its partner, once: the statement is unique here and
    the provider's idempotency keys derive from it. `payment_entry` is the ledger's
    Dr cash / Cr partner receivable, present exactly when the invoice is paid."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Being issued")
        OPEN = "open", pgettext_lazy("invoice status", "Open")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")

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
    # Tax (payments.tax): fixed when the invoice is created, so what finance approved, the
    # PDF, the provider's invoice and the ledger all read the same figures. `subtotal` is
    # the statement's payable (DESIGN.md §5a, unchanged); `amount` = subtotal + tax.
    subtotal = models.BigIntegerField(default=0)
    # The part of this statement's clawback given back by credit notes on the original
    # invoices (docs/credit-notes.md): billed here again, so it is not credited twice.
    # subtotal = the statement's payable + clawback_credited.
    clawback_credited = models.BigIntegerField(default=0)
    tax_amount = models.BigIntegerField(default=0)
    tax_treatment = models.CharField(max_length=16, default="none")
    tax_point = models.DateField(null=True, blank=True)
    # [{"jurisdiction", "category", "rate" (decimal string), "taxable", "tax"}], one per rate.
    tax_breakdown = models.JSONField(default=list, blank=True)
    tax_note = models.CharField(max_length=300, blank=True, default="")
    # Snapshots: a qualified invoice shows the registration numbers in force when it was made.
    seller_registration_number = models.CharField(max_length=32, blank=True, default="")
    buyer_registration_number = models.CharField(max_length=32, blank=True, default="")
    # Dr partner_receivable / Cr tax_payable:<jurisdiction>, posted when the invoice is issued.
    tax_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_tax"
    )

    class Meta:
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_invoice"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_amount_positive"),
            models.CheckConstraint(
                condition=Q(tax_amount__gte=0) & Q(amount=models.F("subtotal") + models.F("tax_amount")),
                name="invoice_amount_is_subtotal_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "payment_failed", "paid", "void"]),
                name="invoice_status_valid",
            ),
            models.CheckConstraint(
                condition=(Q(status="paid") & Q(payment_entry__isnull=False) & Q(paid_at__isnull=False))
                | (~Q(status="paid") & Q(payment_entry__isnull=True)),
                name="invoice_paid_has_entry",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_invoice_id"],
                condition=~Q(provider_invoice_id=""),
                name="invoice_provider_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number or self.pk} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        # An invoice made without tax figures (as before tax existed) is all subtotal; a
        # real subtotal is never 0, since amount > 0 and tax is a fraction of the subtotal.
        if not self.subtotal and not self.tax_amount:
            self.subtotal = self.amount
        super().save(*args, **kwargs)

    @property
    def pre_payment_credited(self) -> int:
        """What credit notes issued before payment took off the amount due (Stripe's
        `pre_payment_credit_notes_amount`)."""
        return sum(
            note.amount
            for note in self.credit_notes.all()
            if note.status == CreditNote.Status.ISSUED and note.kind == CreditNote.Kind.PRE_PAYMENT
        )

    @property
    def amount_due(self) -> int:
        return self.amount - self.pre_payment_credited


class TaxProfile(models.Model):
    """How a partner is taxed (payments.tax): its country, its registration number (an EU
    VAT id, a Japanese qualified-invoice number T + 13 digits) and the treatment —
    `auto` derives it from the country and the number, the others are finance's choice."""

    class Treatment(models.TextChoices):
        AUTO = "auto", _("Derived from country and number")
        DOMESTIC = "domestic", _("Domestic, standard-rated")
        REVERSE_CHARGE = "reverse_charge", _("Reverse charge")
        NONE = "none", _("Outside the scope (no tax)")

    partner = models.OneToOneField("contracts.Partner", on_delete=models.CASCADE, related_name="tax_profile")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    registration_number = models.CharField(max_length=32, blank=True, default="")
    treatment = models.CharField(max_length=16, choices=Treatment.choices, default=Treatment.AUTO)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(treatment__in=["auto", "domestic", "reverse_charge", "none"]),
                name="tax_profile_treatment_valid",
            ),
            models.CheckConstraint(condition=Q(country__regex=r"^[A-Z]{2}$"), name="tax_profile_country_alpha2"),
        ]

    def __str__(self) -> str:
        return f"Tax profile of {self.partner_id} ({self.country})"


class TaxRate(models.Model):
    """A tax rate in force in a jurisdiction from `valid_from` to `valid_to` (both
    inclusive; open-ended when null). Data, not code: a change of rate is a new row."""

    jurisdiction = models.CharField(max_length=2)
    category = models.CharField(max_length=16, default="standard")
    rate = models.DecimalField(max_digits=6, decimal_places=4, help_text="0.1000 is 10%")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["jurisdiction", "category", "valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lt=1), name="tax_rate_fraction"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="tax_rate_period_ordered",
            ),
            models.UniqueConstraint(fields=["jurisdiction", "category", "valid_from"], name="tax_rate_once"),
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.category} {self.rate} from {self.valid_from}"


class CreditNote(models.Model):
    """A correction of an issued invoice: never a negative invoice. Unique per (invoice,
    source) through `idempotency_key`, so a retried request returns the first note.
    `subtotal` is the reduction of the invoice's taxable amount; the tax on it is computed
    by the invoice's rates, rounded once per rate (payments.tax)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Being issued")
        ISSUED = "issued", _("Issued")

    class Kind(models.TextChoices):
        # Before payment the note lowers the amount due; after it, the money goes back to
        # the partner outside the provider's balance (out of band: refund or deduction).
        PRE_PAYMENT = "pre_payment", _("Before payment")
        POST_PAYMENT = "post_payment", _("After payment")

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=16)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    subtotal = models.BigIntegerField()
    tax_amount = models.BigIntegerField(default=0)
    amount = models.BigIntegerField()
    tax_breakdown = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=300)
    source = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRE_PAYMENT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    idempotency_key = models.CharField(max_length=200, unique=True)
    provider_credit_note_id = models.CharField(max_length=64, blank=True, default="")
    number = models.CharField(max_length=64, blank=True, default="")
    issue_error = models.CharField(max_length=300, blank=True, default="")
    issue_attempt = models.PositiveIntegerField(default=1)
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gt=0), name="credit_note_subtotal_positive"),
            models.CheckConstraint(
                condition=Q(tax_amount__gte=0) & Q(amount=models.F("subtotal") + models.F("tax_amount")),
                name="credit_note_amount_is_subtotal_plus_tax",
            ),
            models.CheckConstraint(condition=Q(status__in=["draft", "issued"]), name="credit_note_status_valid"),
            models.CheckConstraint(
                condition=(Q(status="issued") & Q(journal_entry__isnull=False))
                | (~Q(status="issued") & Q(journal_entry__isnull=True)),
                name="credit_note_issued_has_entry",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_credit_note_id"],
                condition=~Q(provider_credit_note_id=""),
                name="credit_note_provider_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Credit note {self.number or self.pk} ({self.status})"


class WebhookEvent(models.Model):
    """Each provider event, stored once (its id is unique): a replay finds it and changes
    nothing."""

    class Outcome(models.TextChoices):
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        REJECTED = "rejected", _("Rejected")

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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_webhookevent"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PayoutRun(models.Model):
    """One run of payouts, with progress for the finance console."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_payoutrun"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="payout_run_status_valid"
            ),
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
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed (will retry)")

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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_payout"
        ordering = ["run_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=["pending", "sent", "failed"]), name="payout_status_valid"),
            models.CheckConstraint(
                condition=(Q(status="sent") & Q(journal_entry__isnull=False))
                | (~Q(status="sent") & Q(journal_entry__isnull=True)),
                name="payout_sent_has_entry",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_transfer_id"],
                condition=~Q(provider_transfer_id=""),
                name="payout_transfer_unique",
            ),
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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_payoutitem"
        ordering = ["payout_id", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_positive")]

    def __str__(self) -> str:
        return f"{self.split_id} → {self.payout_id}"


class ReconciliationRun(models.Model):
    """The ledger's cash and receivables against the provider's invoices and transfers."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_reconciliationrun"
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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_reconciliationitem"
        ordering = ["run_id", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.reference}"
