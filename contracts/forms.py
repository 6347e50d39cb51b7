"""Input forms of the partner portal and the manager console.

They check only the shape of what was typed (a date is a date, JSON is JSON); whether
the input is allowed — a reason is required, terms make sense, the person may act — is
for contracts.services to say, so the web UI and the API give the same answers.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from contracts.models import Partner, PartnerMembership, Placement
from contracts.terms import ATTRIBUTION_KEY_LABELS, ATTRIBUTION_MODEL_LABELS, OUTCOME_FEE_LABELS, SHARE_MODEL_LABELS
from core.currencies import CURRENCY_CHOICES, minor_unit_exponent
from core.models import User
from employees.models import Industry
from employees.skills import outcome_kinds_all


def parse_json_field(raw: str) -> Any:
    """JSON typed into a textarea, or a form error saying where it breaks."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            _("This is not valid JSON: %(problem)s at line %(line)s, column %(column)s."),
            code="invalid_json",
            params={"problem": error.msg, "line": error.lineno, "column": error.colno},
        ) from error


class NoteForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Note for the account manager (optional)"),
    )


class ReasonForm(forms.Form):
    # Not required here: services decide which actions need a reason and say so.
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=80, label=_("Key name"), help_text=_("Something that tells keys apart, e.g. “POS export”.")
    )


class TermsForm(forms.Form):
    """The terms textarea alone: what the htmx "Check terms" button posts."""

    terms = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}), label=_("Terms (JSON)"))

    def clean_terms(self) -> Any:
        return parse_json_field(self.cleaned_data["terms"])


class ContractVersionForm(TermsForm):
    effective_from = forms.DateField(
        label=_("Takes effect from"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The first day of a month: contract terms change at period starts."),
    )
    field_order = ["effective_from", "terms"]

    @classmethod
    def initial_for(cls, *, effective_from: date, terms: dict[str, Any]) -> ContractVersionForm:
        return cls(initial={"effective_from": effective_from, "terms": json.dumps(terms, indent=2)})


class PlacementStatusFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", _("Any status")), *Placement.Status.choices], label=_("Status")
    )


class PartnerFilterForm(forms.Form):
    partner = forms.ModelChoiceField(
        required=False,
        queryset=Partner.objects.none(),
        to_field_name="slug",
        empty_label=_("All partners"),
        label=_("Partner"),
    )

    def __init__(self, *args: Any, partners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the partners the viewer may see are choices: a slug outside that set is
        # refused like any unknown one.
        self.fields["partner"].queryset = partners


# --- the terms builder ------------------------------------------------------------------------
# Fields for every part of the terms, turned into exactly the dict the JSON textarea would
# hold; contracts.terms.terms_validate (through the services) then judges both alike. The
# form checks only that numbers are numbers and amounts fit the currency's minor unit.

TIER_FIELDS = ("tier_up_to", "tier_rate")
SPLIT_FIELDS = ("split_payee", "split_share")


def row_count(data: Any, fields: tuple[str, ...]) -> int:
    """How many numbered rows (`tier_rate_0`, `tier_rate_1`, …) the posted data holds."""
    indexes = [
        int(key.rsplit("_", 1)[1])
        for key in data
        if key.rsplit("_", 1)[0] in fields and key.rsplit("_", 1)[1].isdigit()
    ]
    return max(indexes) + 1 if indexes else 0


def rows_remove(data: QueryDict, fields: tuple[str, ...], index: int) -> QueryDict:
    """The posted data with row `index` taken out and the rows after it moved up."""
    count = row_count(data, fields)
    out = data.copy()
    for position in range(index, count - 1):
        for field in fields:
            out.setlist(f"{field}_{position}", data.getlist(f"{field}_{position + 1}"))
    if index < count:
        for field in fields:
            out.pop(f"{field}_{count - 1}", None)
    return out


def _percent_to_rate(value: Decimal) -> str:
    return f"{(value / 100).normalize():f}"


def _rate_to_percent(rate: str | None) -> Decimal | None:
    return None if rate in (None, "") else (Decimal(rate) * 100).normalize()


class TermsBuilderForm(forms.Form):
    mode = forms.CharField(widget=forms.HiddenInput, initial="builder")
    effective_from = forms.DateField(
        label=_("Takes effect from"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The first day of a month in the partner's time zone: terms change at period starts."),
    )
    share_model = forms.ChoiceField(
        label=_("Share model"), choices=[(k, _(v)) for k, v in SHARE_MODEL_LABELS.items()], widget=forms.RadioSelect
    )
    flat_rate = forms.DecimalField(label=_("Rate (%)"), required=False, help_text=_("For a flat share, e.g. 10."))
    minimum = forms.DecimalField(label=_("Minimum wage per month"), required=False, help_text=_("Blank: none."))
    cap = forms.DecimalField(label=_("Cap per month"), required=False, help_text=_("Blank: no cap."))
    window_days = forms.IntegerField(label=_("Attribution window (days)"))
    attribution_model = forms.ChoiceField(
        label=_("When several touches match"), choices=[(k, _(v)) for k, v in ATTRIBUTION_MODEL_LABELS.items()]
    )
    attribution_keys = forms.MultipleChoiceField(
        label=_("A sale counts when it carries"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(k, _(v)) for k, v in ATTRIBUTION_KEY_LABELS.items()],
        help_text=_("Ties between touches go by this order."),
    )
    hold_days = forms.IntegerField(label=_("Hold before payout (days)"))

    def __init__(
        self,
        data: Any = None,
        *,
        currency: str,
        payees: list[tuple[str, str]],
        terms: dict[str, Any] | None = None,
        effective_from: date | None = None,
        tiers: int | None = None,
        splits: int | None = None,
    ) -> None:
        super().__init__(data, initial=self._initial(terms, effective_from, currency) if data is None else None)
        self.currency = currency
        self.exponent = minor_unit_exponent(currency)
        source = data if data is not None else self.initial
        self.tier_count = tiers if tiers is not None else max(row_count(source, TIER_FIELDS), 1)
        self.split_count = splits if splits is not None else max(row_count(source, SPLIT_FIELDS), 1)
        for index in range(self.tier_count):
            self.fields[f"tier_up_to_{index}"] = forms.DecimalField(
                label=_("Tier %(number)s up to") % {"number": index + 1},
                required=False,
                help_text=_("Blank on the last tier: no upper bound."),
            )
            self.fields[f"tier_rate_{index}"] = forms.DecimalField(
                label=_("Tier %(number)s rate (%%)") % {"number": index + 1}, required=False
            )
        for index in range(self.split_count):
            self.fields[f"split_payee_{index}"] = forms.ChoiceField(
                label=_("Payee %(number)s") % {"number": index + 1}, required=False, choices=[("", "—"), *payees]
            )
            self.fields[f"split_share_{index}"] = forms.DecimalField(
                label=_("Payee %(number)s share (%%)") % {"number": index + 1}, required=False
            )
        for kind in sorted(outcome_kinds_all()):
            self.fields[f"fee_{kind}"] = forms.DecimalField(
                label=_("Fee per %(outcome)s")
                % {"outcome": _(OUTCOME_FEE_LABELS[kind]) if kind in OUTCOME_FEE_LABELS else kind.replace("_", " ")},
                required=False,
                help_text=_("Blank: no fee."),
            )
        if data is None:
            # The keys the terms name first, in their order (it breaks ties), then the others.
            chosen = self.initial.get("attribution_keys", [])
            self.fields["attribution_keys"].choices = [
                (k, _(ATTRIBUTION_KEY_LABELS[k])) for k in chosen if k in ATTRIBUTION_KEY_LABELS
            ] + [(k, _(v)) for k, v in ATTRIBUTION_KEY_LABELS.items() if k not in chosen]
        else:
            posted = (
                [k for k in data.getlist("attribution_keys") if k in ATTRIBUTION_KEY_LABELS]
                if hasattr(data, "getlist")
                else []
            )
            self.fields["attribution_keys"].choices = [(k, _(ATTRIBUTION_KEY_LABELS[k])) for k in posted] + [
                (k, _(v)) for k, v in ATTRIBUTION_KEY_LABELS.items() if k not in posted
            ]

    def _initial(self, terms: dict[str, Any] | None, effective_from: date | None, currency: str) -> dict[str, Any]:
        if not terms:
            return {"mode": "builder", "effective_from": effective_from}
        exponent = minor_unit_exponent(currency)

        def major(amount: int | None) -> Decimal | None:
            return None if amount is None else Decimal(amount).scaleb(-exponent)

        share = terms.get("share") or {}
        attribution = terms.get("attribution") or {}
        initial: dict[str, Any] = {
            "mode": "builder",
            "effective_from": effective_from,
            "share_model": share.get("model"),
            "flat_rate": _rate_to_percent(share.get("rate")),
            "minimum": major(terms.get("minimum_per_period")),
            "cap": major(terms.get("cap_per_period")),
            "window_days": attribution.get("window_days"),
            "attribution_model": attribution.get("model"),
            "attribution_keys": list(attribution.get("keys") or []),
            "hold_days": terms.get("hold_days"),
        }
        for index, tier in enumerate(share.get("tiers") or []):
            initial[f"tier_up_to_{index}"] = major(tier.get("up_to"))
            initial[f"tier_rate_{index}"] = _rate_to_percent(tier.get("rate"))
        for index, split in enumerate(terms.get("splits") or []):
            initial[f"split_payee_{index}"] = split.get("payee")
            initial[f"split_share_{index}"] = _rate_to_percent(split.get("share"))
        for kind, fee in (terms.get("outcome_fees") or {}).items():
            initial[f"fee_{kind}"] = major(fee)
        return initial

    def _minor(self, name: str) -> int | None:
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        minor = value.scaleb(self.exponent)
        if minor != minor.to_integral_value():
            self.add_error(name, f"{self.currency} amounts have at most {self.exponent} decimal place(s).")
            return None
        return int(minor)

    def tiers(self) -> list[tuple[int, Any, Any]]:
        return [(i, self[f"tier_up_to_{i}"], self[f"tier_rate_{i}"]) for i in range(self.tier_count)]

    def splits(self) -> list[tuple[int, Any, Any]]:
        return [(i, self[f"split_payee_{i}"], self[f"split_share_{i}"]) for i in range(self.split_count)]

    def fees(self) -> list[Any]:
        return [self[name] for name in self.fields if name.startswith("fee_")]

    def to_terms(self) -> dict[str, Any]:
        """The terms as the JSON path would hold them (call after is_valid)."""
        data = self.cleaned_data
        model = data["share_model"]
        share: dict[str, Any] = {"model": model}
        if model == "flat":
            if data.get("flat_rate") is not None:
                share["rate"] = _percent_to_rate(data["flat_rate"])
        else:
            tiers = []
            for index in range(self.tier_count):
                up_to, rate = self._minor(f"tier_up_to_{index}"), data.get(f"tier_rate_{index}")
                if up_to is None and rate is None:
                    continue  # an empty row: nothing typed
                tiers.append({"up_to": up_to, "rate": None if rate is None else _percent_to_rate(rate)})
            share["tiers"] = tiers
        splits = []
        for index in range(self.split_count):
            payee, part = data.get(f"split_payee_{index}"), data.get(f"split_share_{index}")
            if not payee and part is None:
                continue
            splits.append({"payee": payee or "", "share": None if part is None else _percent_to_rate(part)})
        fees = {}
        for kind in sorted(outcome_kinds_all()):
            fee = self._minor(f"fee_{kind}")
            if fee is not None:
                fees[kind] = fee
        return {
            "currency": self.currency,
            "period": "monthly",
            "share": share,
            "outcome_fees": fees,
            "minimum_per_period": self._minor("minimum"),
            "cap_per_period": self._minor("cap"),
            "attribution": {
                "window_days": data["window_days"],
                "model": data["attribution_model"],
                "keys": list(data.get("attribution_keys") or []),
            },
            "hold_days": data["hold_days"],
            "splits": splits,
        }

    # Where each problem terms_validate reports (by JSON path) shows on this form.
    _PATHS = {
        "share": "share_model",
        "share.model": "share_model",
        "share.rate": "flat_rate",
        "share.tiers": "__all__",
        "minimum_per_period": "minimum",
        "cap_per_period": "cap",
        "attribution": "attribution_keys",
        "attribution.window_days": "window_days",
        "attribution.model": "attribution_model",
        "attribution.keys": "attribution_keys",
        "hold_days": "hold_days",
        "splits": "__all__",
        "effective_from": "effective_from",
    }
    _ROW = re.compile(r"(share\.tiers|splits)\[(\d+)\](?:\.(\w+))?")

    def field_for(self, path: str) -> str | None:
        if path in self._PATHS:
            return None if self._PATHS[path] == "__all__" else self._PATHS[path]
        if path.startswith("outcome_fees."):
            name = f"fee_{path.split('.', 1)[1]}"
            return name if name in self.fields else None
        match = self._ROW.fullmatch(path)
        if match:
            group, index, part = match.groups()
            if group == "share.tiers":
                return f"tier_{'up_to' if part == 'up_to' else 'rate'}_{index}"
            return f"split_{'payee' if part == 'payee' else 'share'}_{index}"
        return None

    def add_terms_errors(self, fields: dict[str, list[str]]) -> None:
        """Put the services' problems under the fields they concern, in the form's units."""
        for path, messages in fields.items():
            name = self.field_for(path)
            if name is not None and name not in self.fields:
                name = None
            for message in messages:
                self.add_error(name, _builder_message(path, message) if name else f"{path}: {message}")


_RATE_BOUNDS = re.compile(r"must be (between 0 and 1|above 0 and at most 1); got ([0-9.]+)\.")


def _builder_message(path: str, message: str) -> str:
    # The rules speak in rates (0–1) and minor units; the builder's fields are percentages
    # and major units, so say the same thing in the units typed.
    match = _RATE_BOUNDS.fullmatch(message)
    if match:
        bounds = "between 0% and 100%" if match.group(1).startswith("between") else "above 0% and at most 100%"
        return f"must be {bounds}; got {(Decimal(match.group(2)) * 100).normalize():f}%."
    if message.startswith("must be a decimal string"):
        return "must be a percentage with at most 10 decimal places."
    return message


# --- partner organisations, invitations ----------------------------------------------------


def service_errors_onto(form: forms.Form, fields: dict[str, list[str]]) -> None:
    """A service's per-field refusal shown beside the fields of the form that sent them
    (a field the form does not have goes on top)."""
    for name, errors in fields.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


class PartnerCreateForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Organisation name"))
    slug = forms.SlugField(
        max_length=64,
        label=_("Short name"),
        help_text=_("Lower-case letters, digits and hyphens, e.g. “corner-shop”. It cannot change."),
    )
    industry = forms.ChoiceField(choices=Industry.choices)
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, help_text=_("Sales are reported and invoiced in it."))
    timezone = forms.CharField(
        max_length=64,
        initial="UTC",
        label=_("Time zone"),
        help_text=_("An IANA zone such as Asia/Tokyo: each month is cut at its midnight."),
    )
    account_manager = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, to_field_name="username", empty_label=_("Nobody yet")
    )
    owner_email = forms.EmailField(label=_("Owner's e-mail"), help_text=_("They get a link to set up their account."))
    owner_name = forms.CharField(max_length=150, required=False, label=_("Owner's name"))

    def __init__(self, *args: Any, managers: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if managers is None:
            # An account manager manages what they create: no choice to make.
            del self.fields["account_manager"]
        else:
            self.fields["account_manager"].queryset = managers


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))
    name = forms.CharField(max_length=150, required=False, label=_("Name (optional)"))
    role = forms.ChoiceField(choices=PartnerMembership.Role.choices, initial=PartnerMembership.Role.MEMBER)


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(
        max_length=150, label=_("User name"), help_text=_("Letters, digits and @ . + - _ only; you sign in with it.")
    )
    password = forms.CharField(widget=forms.PasswordInput, strip=False, label=_("Password"), max_length=512)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False, label=_("Password again"), max_length=512)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if (
            cleaned.get("password")
            and cleaned.get("password_again")
            and cleaned["password"] != cleaned["password_again"]
        ):
            self.add_error("password_again", _("The two passwords differ."))
        return cleaned
