"""Input forms of the revenue pages: the partner's sales filter, the finance console and
the contract simulator.

Like contracts.forms they check only the shape of what was typed (a period is YYYY-MM, an
amount a whole number, terms are JSON); whether the input is allowed — a reason is
required, the statement may still change, the terms make sense — is for the services and
contracts.terms to say, so the web UI and the API give the same answers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from contracts.forms import parse_json_field
from core.periods import period_parse, period_text
from revenue.models import Inquiry, Sale, Statement
from revenue.services.uploads import MAX_UPLOAD_BYTES


class PeriodField(forms.Field):
    """A month typed as YYYY-MM, cleaned to the first day of that month."""

    default_error_messages = {"invalid_period": _("Give a month as YYYY-MM, e.g. 2026-10.")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Period"))
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={
                    "placeholder": "2026-10",
                    "pattern": "[0-9]{4}-[0-9]{2}",
                    "size": 9,
                    "maxlength": 7,
                    "inputmode": "numeric",
                }
            ),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> date | None:
        raw = str(value).strip() if value is not None else ""
        if not raw:
            return None
        period = period_parse(raw)
        if period is None:
            raise forms.ValidationError(self.error_messages["invalid_period"], code="invalid_period")
        return period

    def prepare_value(self, value: Any) -> Any:
        return period_text(value) if isinstance(value, date) else value


# --- partner portal ------------------------------------------------------------------------


class SalesFilterForm(forms.Form):
    period = PeriodField(required=False)
    attribution = forms.ChoiceField(
        required=False,
        label=_("Attribution"),
        choices=[("", _("Any")), *Sale.Attribution.choices],
    )


# --- finance console -------------------------------------------------------------------------


class SettlementRunForm(forms.Form):
    period = PeriodField(help_text=_("The month to settle, in each partner's own time zone."))


class StatementFilterForm(forms.Form):
    period = PeriodField(required=False)
    status = forms.ChoiceField(
        required=False, label=_("Status"), choices=[("", _("Any status")), *Statement.Status.choices]
    )


class ExportForm(forms.Form):
    period = PeriodField()


class AdjustmentForm(forms.Form):
    amount = forms.IntegerField(
        label=_("Amount (minor units)"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "-30000"}),
        help_text=_("Negative lowers the total, positive raises it."),
    )
    # Not required here: the service says a reason is required, as it does for the API.
    reason = forms.CharField(
        required=False, max_length=300, label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2})
    )


# --- contract simulator ----------------------------------------------------------------------


MONTH_CHOICES = [(3, "3 months"), (6, _("6 months")), (12, _("12 months")), (24, _("24 months"))]


class SimulateForm(forms.Form):
    terms_a = forms.CharField(
        label=_("Terms A (JSON)"), widget=forms.Textarea(attrs={"rows": 22, "spellcheck": "false", "class": "mono"})
    )
    terms_b = forms.CharField(
        label=_("Terms B (JSON)"), widget=forms.Textarea(attrs={"rows": 22, "spellcheck": "false", "class": "mono"})
    )
    months = forms.TypedChoiceField(label=_("Months"), choices=MONTH_CHOICES, coerce=int, initial=12)
    price_per_call = forms.IntegerField(
        label=_("Price per call (minor units)"),
        min_value=0,
        max_value=10**12,
        initial=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 10}),
    )

    def clean_terms_a(self) -> Any:
        return parse_json_field(self.cleaned_data["terms_a"])

    def clean_terms_b(self) -> Any:
        return parse_json_field(self.cleaned_data["terms_b"])


class UploadForm(forms.Form):
    # Not required by the form: upload_create says what is missing, as for the API. The
    # browser is told it is required (and the label says so).
    file = forms.FileField(
        label=_("CSV file (required)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv", "required": True, "aria-required": "true"}),
        help_text=format_lazy(
            _("UTF-8, header row first; up to {megabytes} MB."), megabytes=MAX_UPLOAD_BYTES // 1024 // 1024
        ),
    )


# --- inquiries ---------------------------------------------------------------------------------


class InquiryForm(forms.Form):
    """The partner's question. `subject` is a line ("line:attributed_sales") or "sale", with
    the sale's or refund's external id in `sale`; the service checks the rest."""

    subject = forms.CharField(label=_("About"), max_length=40)
    sale = forms.CharField(label=_("Sale or refund id"), required=False, max_length=128)
    reason = forms.ChoiceField(label=_("Reason"), choices=Inquiry.Reason.choices)
    comment = forms.CharField(label=_("What is wrong"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    attachment = forms.FileField(label=_("Attachment (optional)"), required=False)


class InquiryCommentForm(forms.Form):
    body = forms.CharField(label=_("Comment"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class InquiryResolveForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[("accept", _("Accept")), ("reject", _("Reject"))])
    note = forms.CharField(label=_("Note to the partner"), required=False, max_length=1000)
    placement = forms.IntegerField(label=_("Re-attribute to placement (optional)"), required=False, min_value=1)
