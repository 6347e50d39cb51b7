"""Input forms of the payment pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


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
