"""The double-entry ledger (DESIGN.md §4): accounts, journal entries and their lines.

The balance rule (each entry's lines sum to zero per currency, at least two lines, each in
its account's currency) and append-only are enforced by the database itself, not only here:
checked once per INSERT statement over all the rows it wrote (ledger migration 0002, which
replaced the per-row triggers of revenue 0002, where these tables were born). So an entry and
all its lines are written by one statement, and no line is ever added to an entry later.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from core.currencies import CURRENCY_CHOICES


class Account(models.Model):
    """A ledger account. Codes name what they track: `partner_receivable:<partner slug>`,
    `payee_payable:<payee slug>`, `platform_revenue`, `cash:<provider>` (DESIGN.md §4).
    One currency per account, so a balance is always a single number."""

    class Kind(models.TextChoices):
        ASSET = "asset", _("Asset")
        LIABILITY = "liability", _("Liability")
        REVENUE = "revenue", _("Revenue")

    code = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=now)

    class Meta:
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_account"
        ordering = ["code", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["code", "currency"], name="account_code_currency"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class JournalEntry(models.Model):
    """One business event in the ledger. Its lines sum to zero per currency — checked by a
    statement-level trigger at the end of the statement that wrote the entry and its lines
    (ledger migration 0002) — and, once posted, neither the entry nor its lines change (nor
    gain lines): a mistake is corrected by a reversing entry."""

    # What posted it, e.g. "statement:42:approved"; unique, so a retried post is a no-op.
    idempotency_key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=300)
    occurred_on = models.DateField()
    posted_at = models.DateTimeField(default=now)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")

    class Meta:
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_journalentry"
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
        # Moved from the revenue app with its table: the name stays, no data moves.
        db_table = "revenue_journalline"
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="journal_line_nonzero"),
        ]
        indexes = [models.Index(fields=["account", "entry"])]

    def __str__(self) -> str:
        side = "Dr" if self.amount > 0 else "Cr"
        return f"{side} {self.account.code} {abs(self.amount)} {self.currency}"
