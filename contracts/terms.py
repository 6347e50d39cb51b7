"""Contract terms: validation and the canonical shape of DESIGN.md §5a.

`terms_validate` checks everything that does not need the database and returns the
canonical form (every key present, rates as normalised decimal strings). Every problem is
reported at once, each under the JSON path it concerns, so an account manager can fix a
whole draft in one go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from itertools import pairwise
from typing import Any, TypeGuard

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from core.currencies import format_money, is_known_currency
from core.errors import ValidationFailed
from employees.skills import outcome_kinds_all

PERIODS = ("monthly",)
SHARE_MODELS = ("flat", "graduated", "volume")
ATTRIBUTION_MODELS = ("last_touch", "first_touch")
ATTRIBUTION_KEYS = ("conversation_id", "click_id", "coupon_code")
TOP_LEVEL_KEYS = {
    "currency",
    "period",
    "share",
    "outcome_fees",
    "minimum_per_period",
    "cap_per_period",
    "attribution",
    "hold_days",
    "splits",
    "review",
}
REQUIRED_KEYS = ("currency", "period", "share", "attribution", "splits")
MAX_WINDOW_DAYS = 365
MAX_HOLD_DAYS = 365
# How long a partner may question a statement sent to review (revenue inquiries). Versions
# written before the setting existed have none and get the default.
DEFAULT_REVIEW_WINDOW_DAYS = 7
MAX_REVIEW_WINDOW_DAYS = 90
# Amounts are bigint minor units in the database; refuse what would not fit.
MAX_AMOUNT = 2**62
# ASCII digits only: `\d` would also match "０.０５" or "٠.٠٥", which Decimal() accepts but
# no other consumer of the stored terms should have to.
_DECIMAL_STRING = re.compile(r"[0-9]{1,6}(\.[0-9]{1,12})?")


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, []).append(message)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _rate(value: object, path: str, errors: _Errors, *, allow_zero: bool = True) -> Decimal | None:
    # Rates are strings so that no binary float ever touches money.
    if not isinstance(value, str) or not _DECIMAL_STRING.fullmatch(value):
        errors.add(path, f'must be a decimal string such as "0.05"; got {value!r}.')
        return None
    rate = Decimal(value)
    if rate < 0 or rate > 1 or (rate == 0 and not allow_zero):
        bounds = "between 0 and 1" if allow_zero else "above 0 and at most 1"
        errors.add(path, f"must be {bounds}; got {value}.")
        return None
    return rate


def _amount(value: object, path: str, errors: _Errors, *, nullable: bool) -> int | None:
    if value is None:
        if not nullable:
            errors.add(path, "is required.")
        return None
    if not _is_int(value):
        errors.add(path, "must be a whole number of minor units (an integer).")
        return None
    if value < 0:
        errors.add(path, "must not be negative.")
        return None
    if value > MAX_AMOUNT:
        errors.add(path, "is too large.")
        return None
    return value


def _share(raw: object, errors: _Errors) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        errors.add("share", "must be an object with a model.")
        return None
    model = raw.get("model")
    if model not in SHARE_MODELS:
        errors.add("share.model", f"must be one of {', '.join(SHARE_MODELS)}; got {model!r}.")
        return None
    if model == "flat":
        extra = set(raw) - {"model", "rate"}
        if extra:
            errors.add("share", f"unknown key(s) for a flat share: {', '.join(sorted(extra))}.")
        if "rate" not in raw:
            errors.add("share.rate", "is required for a flat share.")
            return None
        rate = _rate(raw["rate"], "share.rate", errors)
        return None if rate is None else {"model": "flat", "rate": raw["rate"]}

    extra = set(raw) - {"model", "tiers"}
    if extra:
        errors.add("share", f"unknown key(s) for a tiered share: {', '.join(sorted(extra))}.")
    tiers = raw.get("tiers")
    if not isinstance(tiers, list) or not tiers:
        errors.add("share.tiers", f"a {model} share needs a non-empty list of tiers.")
        return None
    canonical: list[dict[str, Any]] = []
    previous_bound: int | None = None
    ok = True
    for index, tier in enumerate(tiers):
        path = f"share.tiers[{index}]"
        if not isinstance(tier, dict):
            errors.add(path, "must be an object with up_to and rate.")
            ok = False
            continue
        unknown = set(tier) - {"up_to", "rate"}
        if unknown:
            errors.add(path, f"unknown key(s): {', '.join(sorted(unknown))}.")
            ok = False
        if "up_to" not in tier:
            errors.add(f"{path}.up_to", "is required (null for the last, open tier).")
            ok = False
            continue
        up_to = tier["up_to"]
        is_last = index == len(tiers) - 1
        if up_to is None:
            if not is_last:
                errors.add(f"{path}.up_to", "only the last tier may be open (null).")
                ok = False
        elif not _is_int(up_to) or up_to <= 0 or up_to > MAX_AMOUNT:
            errors.add(f"{path}.up_to", "must be a positive whole number of minor units (at most 2^62).")
            ok = False
        else:
            if previous_bound is not None and up_to <= previous_bound:
                errors.add(
                    f"{path}.up_to",
                    f"tiers must ascend: {up_to} is not above the previous bound {previous_bound}.",
                )
                ok = False
            if is_last:
                errors.add(f"{path}.up_to", "the last tier must be open (up_to: null).")
                ok = False
            previous_bound = up_to
        rate = _rate(tier.get("rate"), f"{path}.rate", errors)
        if rate is None:
            ok = False
            continue
        canonical.append({"up_to": up_to, "rate": tier["rate"]})
    return {"model": model, "tiers": canonical} if ok else None


def _attribution(raw: object, errors: _Errors) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        errors.add("attribution", "must be an object with window_days, model and keys.")
        return None
    unknown = set(raw) - {"window_days", "model", "keys"}
    if unknown:
        errors.add("attribution", f"unknown key(s): {', '.join(sorted(unknown))}.")
    window = raw.get("window_days")
    if not _is_int(window) or not 1 <= window <= MAX_WINDOW_DAYS:
        errors.add("attribution.window_days", f"must be a whole number of days from 1 to {MAX_WINDOW_DAYS}.")
        window = None
    model = raw.get("model")
    if model not in ATTRIBUTION_MODELS:
        errors.add("attribution.model", f"must be one of {', '.join(ATTRIBUTION_MODELS)}; got {model!r}.")
        model = None
    keys = raw.get("keys")
    if not isinstance(keys, list) or not keys:
        errors.add("attribution.keys", f"must be a non-empty list drawn from {', '.join(ATTRIBUTION_KEYS)}.")
        keys = None
    else:
        unknown_keys = [key for key in keys if key not in ATTRIBUTION_KEYS]
        if unknown_keys:
            errors.add("attribution.keys", f"unknown key(s): {', '.join(map(str, unknown_keys))}.")
            keys = None
        elif len(set(keys)) != len(keys):
            errors.add("attribution.keys", "must not repeat a key.")
            keys = None
    if window is None or model is None or keys is None:
        return None
    # The order of keys matters: it breaks ties between touches (§5a).
    return {"window_days": window, "model": model, "keys": list(keys)}


def _splits(raw: object, errors: _Errors, known_payees: set[str] | None) -> list[dict[str, str]] | None:
    if not isinstance(raw, list) or not raw:
        errors.add("splits", "must be a non-empty list of {payee, share}.")
        return None
    canonical: list[dict[str, str]] = []
    total = Decimal(0)
    seen: set[str] = set()
    ok = True
    for index, split in enumerate(raw):
        path = f"splits[{index}]"
        if not isinstance(split, dict):
            errors.add(path, "must be an object with payee and share.")
            ok = False
            continue
        unknown = set(split) - {"payee", "share"}
        if unknown:
            errors.add(path, f"unknown key(s): {', '.join(sorted(unknown))}.")
            ok = False
        payee = split.get("payee")
        if not isinstance(payee, str) or not payee:
            errors.add(f"{path}.payee", "must name a payee.")
            ok = False
        elif known_payees is not None and payee not in known_payees:
            errors.add(f"{path}.payee", f"unknown payee {payee!r}.")
            ok = False
        elif payee in seen:
            errors.add(f"{path}.payee", f"payee {payee!r} appears twice.")
            ok = False
        else:
            seen.add(payee)
        share = _rate(split.get("share"), f"{path}.share", errors, allow_zero=False)
        if share is None:
            ok = False
            continue
        total += share
        canonical.append({"payee": str(payee), "share": str(split.get("share"))})
    if ok and total != 1:
        errors.add("splits", f"shares must sum to exactly 1; they sum to {total}.")
        ok = False
    return canonical if ok else None


def terms_validate(
    raw: object,
    *,
    known_payees: Iterable[str] | None = None,
    required_currency: str | None = None,
) -> dict[str, Any]:
    """Validate contract terms; return their canonical form or raise ValidationFailed."""
    errors = _Errors()
    if not isinstance(raw, dict):
        raise ValidationFailed(_("Contract terms must be a JSON object."), fields={"terms": ["must be an object."]})
    payees = set(known_payees) if known_payees is not None else None

    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        errors.add("terms", f"unknown key(s): {', '.join(unknown)}.")
    for key in REQUIRED_KEYS:
        if key not in raw:
            errors.add(key, "is required.")

    currency = raw.get("currency")
    if "currency" in raw:
        if not is_known_currency(currency):
            errors.add("currency", f"unknown currency {currency!r}; use an ISO 4217 code such as JPY or USD.")
        elif required_currency is not None and currency != required_currency:
            errors.add("currency", f"must be {required_currency}, the currency of this partner's contract.")
    period = raw.get("period")
    if "period" in raw and period not in PERIODS:
        errors.add("period", f"must be one of {', '.join(PERIODS)}; got {period!r}.")

    share = _share(raw["share"], errors) if "share" in raw else None

    outcome_fees_raw = raw.get("outcome_fees", {})
    outcome_fees: dict[str, int] = {}
    if not isinstance(outcome_fees_raw, dict):
        errors.add("outcome_fees", "must be an object of outcome kind → fee in minor units.")
    else:
        known_kinds = outcome_kinds_all()
        for kind, fee in outcome_fees_raw.items():
            if kind not in known_kinds:
                errors.add(f"outcome_fees.{kind}", f"unknown outcome kind; known: {', '.join(sorted(known_kinds))}.")
                continue
            value = _amount(fee, f"outcome_fees.{kind}", errors, nullable=False)
            if value is not None:
                outcome_fees[kind] = value

    minimum = _amount(raw.get("minimum_per_period"), "minimum_per_period", errors, nullable=True)
    cap = _amount(raw.get("cap_per_period"), "cap_per_period", errors, nullable=True)
    if minimum is not None and cap is not None and cap < minimum:
        errors.add("cap_per_period", f"must not be below minimum_per_period ({minimum}).")

    attribution = _attribution(raw["attribution"], errors) if "attribution" in raw else None

    hold_days = raw.get("hold_days", 30)
    if not _is_int(hold_days) or not 0 <= hold_days <= MAX_HOLD_DAYS:
        errors.add("hold_days", f"must be a whole number of days from 0 to {MAX_HOLD_DAYS}.")

    splits = _splits(raw["splits"], errors, payees) if "splits" in raw else None

    review = _review(raw["review"], errors) if "review" in raw else None

    if errors.fields:
        count = sum(len(messages) for messages in errors.fields.values())
        first_path, first_messages = next(iter(errors.fields.items()))
        raise ValidationFailed(
            _("The contract terms have %(count)s problem(s); first: %(first_path)s %(first_messages)s")
            % {"count": count, "first_path": first_path, "first_messages": first_messages[0]},
            fields=errors.fields,
        )
    return {
        "currency": currency,
        "period": period,
        "share": share,
        "outcome_fees": outcome_fees,
        "minimum_per_period": minimum,
        "cap_per_period": cap,
        "attribution": attribution,
        "hold_days": hold_days,
        "splits": splits,
        # Only when given: the canonical form of terms written before it existed is unchanged.
        **({"review": review} if review is not None else {}),
    }


def _review(raw: object, errors: _Errors) -> dict[str, int] | None:
    if not isinstance(raw, dict):
        errors.add("review", "must be an object with window_days.")
        return None
    unknown = sorted(set(raw) - {"window_days"})
    if unknown:
        errors.add("review", f"unknown key(s): {', '.join(map(str, unknown))}.")
    days = raw.get("window_days", DEFAULT_REVIEW_WINDOW_DAYS)
    if not _is_int(days) or not 1 <= days <= MAX_REVIEW_WINDOW_DAYS:
        errors.add("review.window_days", f"must be a whole number of days from 1 to {MAX_REVIEW_WINDOW_DAYS}.")
        return None
    return {"window_days": days}


def review_window_days(terms: dict[str, Any]) -> int:
    """Days after a statement is sent to review during which the partner may question it."""
    review = terms.get("review") or {}
    return int(review.get("window_days", DEFAULT_REVIEW_WINDOW_DAYS))


def terms_template(*, currency: str, payees: list[str]) -> dict[str, Any]:
    """A sensible starting point for a new draft: a flat 10% share, 14-day last touch."""
    if len(payees) >= 2:
        splits = [{"payee": payees[0], "share": "0.7"}, {"payee": payees[1], "share": "0.3"}]
    else:
        # With no payee set up yet the draft still names the platform; validation then says
        # plainly that the payee is unknown.
        splits = [{"payee": payees[0] if payees else "platform", "share": "1"}]
    return {
        "currency": currency,
        "period": "monthly",
        "share": {"model": "flat", "rate": "0.10"},
        "outcome_fees": {},
        "minimum_per_period": None,
        "cap_per_period": None,
        "attribution": {
            "window_days": 14,
            "model": "last_touch",
            "keys": ["conversation_id", "click_id", "coupon_code"],
        },
        "hold_days": 30,
        "splits": splits,
    }


# What a partner reads instead of the stored names (the JSON keeps the stable ones). Marked for
# the catalogue here, translated where they are shown (gettext at the time of the request).
ATTRIBUTION_KEY_LABELS = {
    "conversation_id": gettext_noop("Conversation"),
    "click_id": gettext_noop("Tracked link click"),
    "coupon_code": gettext_noop("Coupon code"),
}
ATTRIBUTION_MODEL_LABELS = {"last_touch": gettext_noop("Last touch"), "first_touch": gettext_noop("First touch")}
SHARE_MODEL_LABELS = {
    "flat": gettext_noop("Flat rate"),
    "graduated": gettext_noop("Graduated tiers"),
    "volume": gettext_noop("Volume tiers"),
}
OUTCOME_FEE_LABELS = {
    "resolution": gettext_noop("resolved conversation"),
    "delivered_work": gettext_noop("delivered work"),
}


def percent_text(rate: str | Decimal) -> str:
    """ "0.08" → "8%", "0.055" → "5.5%": exact, no float."""
    return f"{(Decimal(rate) * 100).normalize():f}%"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return _("%(items)s or %(last)s") % {"items": _(", ").join(items[:-1]), "last": items[-1]}


def terms_describe(terms: dict[str, Any], *, payee_names: dict[str, str] | None = None) -> list[str]:
    """What these terms mean, in the sentences the partner reads (and the manager previews),
    in the active language. `payee_names` maps payee slugs to the names people know them by."""
    currency = terms["currency"]
    names = payee_names or {}

    def money(amount: int) -> str:
        return format_money(amount, currency)

    share = terms["share"]
    lines: list[str] = []
    if share["model"] == "flat":
        lines.append(_("%(rate)s of net revenue each month.") % {"rate": percent_text(share["rate"])})
    elif share["model"] == "graduated":
        tiers = share["tiers"]
        first = {"rate": percent_text(tiers[0]["rate"])}
        if tiers[0]["up_to"] is not None:
            parts = [_("%(rate)s of net revenue up to %(up_to)s") % {**first, "up_to": money(tiers[0]["up_to"])}]
        else:
            parts = [_("%(rate)s of net revenue") % first]
        for previous, tier in pairwise(tiers):
            if tier["up_to"] is None:
                parts.append(
                    _("then %(rate)s of the part above %(lower)s")
                    % {"rate": percent_text(tier["rate"]), "lower": money(previous["up_to"])}
                )
            else:
                parts.append(
                    _("then %(rate)s of the part from %(lower)s to %(up_to)s")
                    % {
                        "rate": percent_text(tier["rate"]),
                        "lower": money(previous["up_to"]),
                        "up_to": money(tier["up_to"]),
                    }
                )
        lines.append(_("%(parts)s, each month.") % {"parts": _(", ").join(parts)})
    else:
        tiers = share["tiers"]
        parts = []
        lower: int | None = None
        for tier in tiers:
            if tier["up_to"] is None:
                parts.append(
                    _("%(rate)s when it is above %(lower)s")
                    % {"rate": percent_text(tier["rate"]), "lower": money(lower or 0)}
                )
            else:
                parts.append(
                    _("%(rate)s when it is up to %(up_to)s")
                    % {"rate": percent_text(tier["rate"]), "up_to": money(tier["up_to"])}
                )
            lower = tier["up_to"]
        lines.append(
            _("The whole month's net revenue at one rate, by the tier it reaches: %(parts)s.")
            % {"parts": _("; ").join(parts)}
        )
    for kind, fee in sorted(terms["outcome_fees"].items()):
        outcome = _(OUTCOME_FEE_LABELS[kind]) if kind in OUTCOME_FEE_LABELS else kind.replace("_", " ")
        lines.append(_("Plus %(fee)s per %(outcome)s.") % {"fee": money(fee), "outcome": outcome})
    if terms["minimum_per_period"]:
        lines.append(
            _("At least %(minimum)s a month, whatever the sales (minimum wage).")
            % {"minimum": money(terms["minimum_per_period"])}
        )
    if terms["cap_per_period"] is not None:
        lines.append(_("At most %(cap)s a month (cap).") % {"cap": money(terms["cap_per_period"])})
    attribution = terms["attribution"]
    keys = _join(
        [_(ATTRIBUTION_KEY_LABELS[key]) if key in ATTRIBUTION_KEY_LABELS else key for key in attribution["keys"]]
    )
    days = attribution["window_days"]
    if attribution["model"] == "last_touch":
        counts = ngettext(
            "A sale counts when it carries the employee's %(keys)s, within %(days)s day of it; "
            "when several match, the latest touch wins.",
            "A sale counts when it carries the employee's %(keys)s, within %(days)s days of it; "
            "when several match, the latest touch wins.",
            days,
        )
    else:
        counts = ngettext(
            "A sale counts when it carries the employee's %(keys)s, within %(days)s day of it; "
            "when several match, the first touch wins.",
            "A sale counts when it carries the employee's %(keys)s, within %(days)s days of it; "
            "when several match, the first touch wins.",
            days,
        )
    lines.append(counts % {"keys": keys, "days": days})
    split_text = _(", ").join(
        f"{names.get(s['payee'], s['payee'])} {percent_text(s['share'])}" for s in terms["splits"]
    )
    hold = terms["hold_days"]
    lines.append(
        ngettext(
            "The wage is shared: %(splits)s; paid out %(days)s day after your payment.",
            "The wage is shared: %(splits)s; paid out %(days)s days after your payment.",
            hold,
        )
        % {"splits": split_text, "days": hold}
    )
    review = review_window_days(terms)
    lines.append(
        ngettext(
            "You may question a statement's lines or sales for %(days)s day after it is sent to you "
            "for review; it is not approved while a question is open.",
            "You may question a statement's lines or sales for %(days)s days after it is sent to you "
            "for review; it is not approved while a question is open.",
            review,
        )
        % {"days": review}
    )
    return lines
