"""Input forms of the payment pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from payments.models import TaxProfile


class TrendsForm(forms.Form):
    """The finance charts' selectors: which currency, how many months back from this one."""

    currency = forms.ChoiceField(label=_("Currency"))
    months = forms.TypedChoiceField(
        label=_("Months"),
        coerce=int,
        initial=12,
        choices=[(6, _("6 months")), (12, _("12 months")), (24, _("24 months"))],
    )

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(code, code) for code in currencies]


class TaxProfileForm(forms.Form):
    """The shape only; payments.services.tax checks the formats (and says why)."""

    country = forms.CharField(max_length=2, label=_("Country"), help_text=_("ISO 3166-1 alpha-2, e.g. JP, DE, US."))
    registration_number = forms.CharField(
        max_length=40,
        required=False,
        label=_("Registration number"),
        help_text=_("An EU VAT id (e.g. DE123456789) or a Japanese qualified-invoice number (T + 13 digits)."),
    )
    treatment = forms.ChoiceField(label=_("Tax treatment"), choices=TaxProfile.Treatment.choices)


class CreditNoteForm(forms.Form):
    amount = forms.IntegerField(min_value=1, label=_("Amount before tax (minor units)"))
    reason = forms.CharField(max_length=300, label=_("Reason"))
