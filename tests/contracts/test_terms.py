"""Contract terms (DESIGN.md §5a): every invalid shape is refused with a message under the
exact JSON path it concerns, both by `terms_validate` and through
POST /api/v1/contracts/{id}/versions, and nothing changes."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from contracts.models import ContractVersion
from contracts.selectors import next_period_start
from contracts.terms import terms_validate
from core.errors import ValidationFailed
from tests.support.api import assert_error, db_state
from tests.support.world import DESIGN_TERMS, api_as, design_terms, hire, this_period

PAYEES = ["platform", "studio-aoi"]
DECIMAL_HINT = 'must be a decimal string such as "0.05"; got {!r}.'
WINDOW = "must be a whole number of days from 1 to 365."
HOLD = "must be a whole number of days from 0 to 365."
WHOLE = "must be a whole number of minor units (an integer)."
POSITIVE_BOUND = "must be a positive whole number of minor units (at most 2^62)."
NEGATIVE = "must not be negative."


def validate(terms: object, *, currency: str = "JPY") -> dict[str, Any]:
    return terms_validate(terms, known_payees=PAYEES, required_currency=currency)


def with_path(path: str, value: Any) -> dict[str, Any]:
    """DESIGN terms with one nested value replaced; path like "share.tiers.1.rate"."""
    terms = copy.deepcopy(DESIGN_TERMS)
    node: Any = terms
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return terms


def without(*keys: str) -> dict[str, Any]:
    terms = copy.deepcopy(DESIGN_TERMS)
    for key in keys:
        del terms[key]
    return terms


def tiers(*pairs: tuple[int | None, str]) -> dict[str, Any]:
    return design_terms(
        share={"model": "graduated", "tiers": [{"up_to": up_to, "rate": rate} for up_to, rate in pairs]}
    )


def splits(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return design_terms(splits=[{"payee": payee, "share": share} for payee, share in pairs])


# (id, terms, the exact `fields` of the error)
INVALID: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    # splits
    (
        "splits-sum-0.9",
        splits(("platform", "0.7"), ("studio-aoi", "0.2")),
        {"splits": ["shares must sum to exactly 1; they sum to 0.9."]},
    ),
    (
        "splits-sum-1.1",
        splits(("platform", "0.80"), ("studio-aoi", "0.30")),
        {"splits": ["shares must sum to exactly 1; they sum to 1.10."]},
    ),
    (
        "splits-duplicate-payee",
        splits(("platform", "0.5"), ("platform", "0.5")),
        {"splits[1].payee": ["payee 'platform' appears twice."]},
    ),
    (
        "splits-unknown-payee",
        splits(("platform", "0.7"), ("studio-kumo", "0.3")),
        {"splits[1].payee": ["unknown payee 'studio-kumo'."]},
    ),
    ("splits-missing-payee", design_terms(splits=[{"share": "1"}]), {"splits[0].payee": ["must name a payee."]}),
    (
        "splits-zero-share",
        splits(("platform", "1"), ("studio-aoi", "0")),
        {"splits[1].share": ["must be above 0 and at most 1; got 0."]},
    ),
    (
        "splits-negative-share",
        splits(("platform", "1"), ("studio-aoi", "-0.3")),
        {"splits[1].share": [DECIMAL_HINT.format("-0.3")]},
    ),
    ("splits-above-one", splits(("platform", "1.5")), {"splits[0].share": ["must be above 0 and at most 1; got 1.5."]}),
    (
        "splits-float-share",
        splits(("platform", 0.7), ("studio-aoi", "0.3")),
        {"splits[0].share": [DECIMAL_HINT.format(0.7)]},
    ),
    (
        "splits-unknown-key",
        design_terms(splits=[{"payee": "platform", "share": "1", "memo": "x"}]),
        {"splits[0]": ["unknown key(s): memo."]},
    ),
    (
        "splits-not-objects",
        design_terms(splits=["platform"]),
        {"splits[0]": ["must be an object with payee and share."]},
    ),
    ("splits-empty", design_terms(splits=[]), {"splits": ["must be a non-empty list of {payee, share}."]}),
    (
        "splits-not-list",
        design_terms(splits={"platform": "1"}),
        {"splits": ["must be a non-empty list of {payee, share}."]},
    ),
    # rates
    (
        "rate-above-one",
        with_path("share.tiers.0.rate", "1.5"),
        {"share.tiers[0].rate": ["must be between 0 and 1; got 1.5."]},
    ),
    (
        "rate-negative",
        with_path("share.tiers.0.rate", "-0.05"),
        {"share.tiers[0].rate": [DECIMAL_HINT.format("-0.05")]},
    ),
    ("rate-float", with_path("share.tiers.1.rate", 0.05), {"share.tiers[1].rate": [DECIMAL_HINT.format(0.05)]}),
    ("rate-integer", with_path("share.tiers.1.rate", 0), {"share.tiers[1].rate": [DECIMAL_HINT.format(0)]}),
    ("rate-missing", tiers((1000000, "0.08"), (None, None)), {"share.tiers[1].rate": [DECIMAL_HINT.format(None)]}),
    (
        "flat-rate-float",
        design_terms(share={"model": "flat", "rate": 0.05}),
        {"share.rate": [DECIMAL_HINT.format(0.05)]},
    ),
    (
        "flat-rate-above-one",
        design_terms(share={"model": "flat", "rate": "1.01"}),
        {"share.rate": ["must be between 0 and 1; got 1.01."]},
    ),
    *[
        (
            f"rate-not-decimal-{index}",
            design_terms(share={"model": "flat", "rate": text}),
            {"share.rate": [DECIMAL_HINT.format(text)]},
        )
        for index, text in enumerate(
            [
                "5%",
                "1e-2",
                "0,05",
                "",
                " 0.05",
                "0.05 ",
                ".05",
                "0.",
                "NaN",
                "Infinity",
                "0x1",
                "0.05\n",
                # Unicode digits are digits to `\d`, but not decimal strings.
                "０.０５",
                "٠.٠٥",
            ]
        )
    ],
    # tiers
    (
        "tiers-not-ascending",
        tiers((1000000, "0.08"), (500000, "0.06"), (None, "0.05")),
        {"share.tiers[1].up_to": ["tiers must ascend: 500000 is not above the previous bound 1000000."]},
    ),
    (
        "tiers-equal-bounds",
        tiers((1000000, "0.08"), (1000000, "0.06"), (None, "0.05")),
        {"share.tiers[1].up_to": ["tiers must ascend: 1000000 is not above the previous bound 1000000."]},
    ),
    (
        "tiers-last-not-open",
        tiers((1000000, "0.08"), (2000000, "0.05")),
        {"share.tiers[1].up_to": ["the last tier must be open (up_to: null)."]},
    ),
    (
        "tiers-open-not-last",
        tiers((None, "0.08"), (1000000, "0.05")),
        {
            "share.tiers[0].up_to": ["only the last tier may be open (null)."],
            "share.tiers[1].up_to": ["the last tier must be open (up_to: null)."],
        },
    ),
    (
        "tiers-two-open",
        tiers((None, "0.08"), (None, "0.05")),
        {"share.tiers[0].up_to": ["only the last tier may be open (null)."]},
    ),
    (
        "tiers-empty",
        design_terms(share={"model": "graduated", "tiers": []}),
        {"share.tiers": ["a graduated share needs a non-empty list of tiers."]},
    ),
    (
        "tiers-missing",
        design_terms(share={"model": "volume"}),
        {"share.tiers": ["a volume share needs a non-empty list of tiers."]},
    ),
    *[
        (f"tiers-bound-{bound!r}", tiers((bound, "0.08"), (None, "0.05")), {"share.tiers[0].up_to": [POSITIVE_BOUND]})
        for bound in (0, -5, 1000.5, "1000", True, 2**62 + 1)
    ],
    (
        "tiers-missing-bound",
        design_terms(share={"model": "graduated", "tiers": [{"rate": "0.05"}]}),
        {"share.tiers[0].up_to": ["is required (null for the last, open tier)."]},
    ),
    (
        "tiers-unknown-key",
        design_terms(share={"model": "graduated", "tiers": [{"up_to": None, "rate": "0.05", "cap": 1}]}),
        {"share.tiers[0]": ["unknown key(s): cap."]},
    ),
    (
        "tiers-not-objects",
        design_terms(share={"model": "graduated", "tiers": ["0.05"]}),
        {"share.tiers[0]": ["must be an object with up_to and rate."]},
    ),
    # share model
    (
        "share-unknown-model",
        design_terms(share={"model": "percentage", "rate": "0.05"}),
        {"share.model": ["must be one of flat, graduated, volume; got 'percentage'."]},
    ),
    (
        "share-no-model",
        design_terms(share={"rate": "0.05"}),
        {"share.model": ["must be one of flat, graduated, volume; got None."]},
    ),
    ("flat-without-rate", design_terms(share={"model": "flat"}), {"share.rate": ["is required for a flat share."]}),
    (
        "flat-with-tiers",
        design_terms(share={"model": "flat", "rate": "0.05", "tiers": []}),
        {"share": ["unknown key(s) for a flat share: tiers."]},
    ),
    (
        "tiered-with-rate",
        design_terms(share={"model": "volume", "rate": "0.05", "tiers": [{"up_to": None, "rate": "0.05"}]}),
        {"share": ["unknown key(s) for a tiered share: rate."]},
    ),
    ("share-not-object", design_terms(share="flat"), {"share": ["must be an object with a model."]}),
    # currency and period
    (
        "currency-unknown",
        design_terms(currency="XYZ"),
        {"currency": ["unknown currency 'XYZ'; use an ISO 4217 code such as JPY or USD."]},
    ),
    (
        "currency-lowercase",
        design_terms(currency="jpy"),
        {"currency": ["unknown currency 'jpy'; use an ISO 4217 code such as JPY or USD."]},
    ),
    (
        "currency-not-string",
        design_terms(currency=392),
        {"currency": ["unknown currency 392; use an ISO 4217 code such as JPY or USD."]},
    ),
    (
        "currency-not-partners",
        design_terms(currency="USD"),
        {"currency": ["must be JPY, the currency of this partner's contract."]},
    ),
    ("period-unknown", design_terms(period="weekly"), {"period": ["must be one of monthly; got 'weekly'."]}),
    # attribution
    *[
        (f"window-{value!r}", with_path("attribution.window_days", value), {"attribution.window_days": [WINDOW]})
        for value in (0, 366, -1, 14.0, 14.5, "14", True, None)
    ],
    (
        "attribution-unknown-model",
        with_path("attribution.model", "linear"),
        {"attribution.model": ["must be one of last_touch, first_touch; got 'linear'."]},
    ),
    (
        "attribution-unknown-key",
        with_path("attribution.keys", ["coupon_code", "email"]),
        {"attribution.keys": ["unknown key(s): email."]},
    ),
    (
        "attribution-repeated-key",
        with_path("attribution.keys", ["coupon_code", "click_id", "coupon_code"]),
        {"attribution.keys": ["must not repeat a key."]},
    ),
    (
        "attribution-no-keys",
        with_path("attribution.keys", []),
        {"attribution.keys": ["must be a non-empty list drawn from conversation_id, click_id, coupon_code."]},
    ),
    (
        "attribution-keys-string",
        with_path("attribution.keys", "coupon_code"),
        {"attribution.keys": ["must be a non-empty list drawn from conversation_id, click_id, coupon_code."]},
    ),
    ("attribution-extra-key", with_path("attribution.decay", "linear"), {"attribution": ["unknown key(s): decay."]}),
    (
        "attribution-not-object",
        design_terms(attribution="last_touch"),
        {"attribution": ["must be an object with window_days, model and keys."]},
    ),
    # minimum, cap, outcome fees, hold
    ("minimum-negative", design_terms(minimum_per_period=-1), {"minimum_per_period": [NEGATIVE]}),
    ("minimum-float", design_terms(minimum_per_period=300000.5), {"minimum_per_period": [WHOLE]}),
    ("minimum-float-whole", design_terms(minimum_per_period=300000.0), {"minimum_per_period": [WHOLE]}),
    ("minimum-string", design_terms(minimum_per_period="300000"), {"minimum_per_period": [WHOLE]}),
    ("minimum-too-large", design_terms(minimum_per_period=2**62 + 1), {"minimum_per_period": ["is too large."]}),
    ("cap-negative", design_terms(cap_per_period=-1), {"cap_per_period": ["must not be negative."]}),
    (
        "cap-below-minimum",
        design_terms(cap_per_period=299999),
        {"cap_per_period": ["must not be below minimum_per_period (300000)."]},
    ),
    (
        "outcome-unknown-kind",
        design_terms(outcome_fees={"coupon_redeemed": 10}),
        {"outcome_fees.coupon_redeemed": ["unknown outcome kind; known: delivered_work, resolution."]},
    ),
    (
        "outcome-negative-fee",
        design_terms(outcome_fees={"resolution": -90}),
        {"outcome_fees.resolution": ["must not be negative."]},
    ),
    ("outcome-float-fee", design_terms(outcome_fees={"resolution": 90.5}), {"outcome_fees.resolution": [WHOLE]}),
    (
        "outcome-null-fee",
        design_terms(outcome_fees={"resolution": None}),
        {"outcome_fees.resolution": ["is required."]},
    ),
    (
        "outcome-not-object",
        design_terms(outcome_fees=[90]),
        {"outcome_fees": ["must be an object of outcome kind → fee in minor units."]},
    ),
    *[
        (f"hold-{value!r}", design_terms(hold_days=value), {"hold_days": [HOLD]})
        for value in (-1, 366, 30.0, "30", None, False)
    ],
    # shape
    ("unknown-top-level-key", design_terms(discount="0.1"), {"terms": ["unknown key(s): discount."]}),
    (
        "missing-splits-and-attribution",
        without("splits", "attribution"),
        {"attribution": ["is required."], "splits": ["is required."]},
    ),
    ("empty-object", {}, {key: ["is required."] for key in ("currency", "period", "share", "attribution", "splits")}),
]

INVALID_PARAMS = [case[1:] for case in INVALID]
INVALID_IDS = [case[0] for case in INVALID]


@pytest.mark.parametrize(("terms", "fields"), INVALID_PARAMS, ids=INVALID_IDS)
def test_terms_validate_names_each_problem(terms, fields):
    # given terms with one kind of problem
    original = copy.deepcopy(terms)
    # when they are validated
    with pytest.raises(ValidationFailed) as caught:
        validate(terms)
    # then the error names exactly the path(s) concerned, and the input is left untouched
    assert caught.value.fields == fields
    assert caught.value.code == "invalid"
    first_path, first_messages = next(iter(caught.value.fields.items()))
    count = sum(len(messages) for messages in fields.values())
    assert caught.value.message == (
        f"The contract terms have {count} problem(s); first: {first_path} {first_messages[0]}"
    )
    assert terms == original


@pytest.mark.parametrize(
    "terms", [[], "terms", None, 42, [DESIGN_TERMS]], ids=["list", "string", "null", "number", "list-of-terms"]
)
def test_terms_validate_refuses_non_objects(terms):
    # given terms that are not a JSON object
    # when they are validated
    with pytest.raises(ValidationFailed) as caught:
        validate(terms)
    # then the error concerns the terms as a whole
    assert caught.value.fields == {"terms": ["must be an object."]}
    assert caught.value.message == "Contract terms must be a JSON object."


def test_terms_validate_reports_every_problem_at_once():
    # given a draft with four unrelated problems
    terms = design_terms(
        currency="EUR",
        hold_days=400,
        splits=[{"payee": "platform", "share": "0.7"}],
        attribution={"window_days": 0, "model": "last_touch", "keys": ["click_id"]},
    )
    # when it is validated
    with pytest.raises(ValidationFailed) as caught:
        validate(terms)
    # then each problem is reported under its own path
    assert caught.value.fields == {
        "currency": ["must be JPY, the currency of this partner's contract."],
        "attribution.window_days": [WINDOW],
        "hold_days": [HOLD],
        "splits": ["shares must sum to exactly 1; they sum to 0.7."],
    }


def test_design_terms_are_canonical():
    # given DESIGN.md's example terms
    # when they are validated
    canonical = validate(DESIGN_TERMS)
    # then they come back exactly as written
    assert canonical == DESIGN_TERMS


def test_optional_keys_get_their_defaults():
    # given terms with only the required keys
    terms = without("outcome_fees", "minimum_per_period", "cap_per_period", "hold_days")
    # when they are validated
    canonical = validate(terms)
    # then the canonical form has every key, with the documented defaults
    assert canonical == {
        **DESIGN_TERMS,
        "outcome_fees": {},
        "minimum_per_period": None,
        "cap_per_period": None,
        "hold_days": 30,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"share": {"model": "flat", "rate": "0"}},
        {"share": {"model": "flat", "rate": "1"}},
        {
            "share": {
                "model": "volume",
                "tiers": [{"up_to": 1, "rate": "0.000000000001"}, {"up_to": None, "rate": "1.0"}],
            }
        },
        {"share": {"model": "graduated", "tiers": [{"up_to": None, "rate": "0.05"}]}},
        {"attribution": {"window_days": 1, "model": "first_touch", "keys": ["coupon_code"]}},
        {"attribution": {"window_days": 365, "model": "last_touch", "keys": ["click_id", "conversation_id"]}},
        {"hold_days": 0},
        {"hold_days": 365},
        {"minimum_per_period": 0, "cap_per_period": 0},
        {"minimum_per_period": None, "cap_per_period": 5},
        {"minimum_per_period": 2**62, "cap_per_period": 2**62},
        {"outcome_fees": {}},
        {"outcome_fees": {"resolution": 0}},
        {"splits": [{"payee": "platform", "share": "1"}]},
        {"splits": [{"payee": "studio-aoi", "share": "0.333"}, {"payee": "platform", "share": "0.667"}]},
    ],
    ids=lambda overrides: ",".join(overrides),
)
def test_edge_values_are_accepted_unchanged(overrides):
    # given terms at the edges of what is allowed
    terms = design_terms(**overrides)
    # when they are validated
    canonical = validate(terms)
    # then they are accepted as written
    assert canonical == terms


# --- through the API ---------------------------------------------------------------------


@pytest.fixture
def approved(world):
    """An approved placement whose contract has no version yet."""
    return hire(world, until="approved")


def post_version(world, contract_id: int, terms: object, effective_from: str):
    return api_as(world.hoshi_manager).post(
        f"/api/v1/contracts/{contract_id}/versions", {"terms": terms, "effective_from": effective_from}, format="json"
    )


@pytest.mark.parametrize(("terms", "fields"), INVALID_PARAMS, ids=INVALID_IDS)
def test_api_refuses_invalid_terms_and_changes_nothing(world, approved, terms, fields):
    # given an approved placement, and terms with one kind of problem
    before = db_state()
    # when the account manager drafts them
    response = post_version(world, approved.contract.pk, terms, this_period(world.hoshi).isoformat())
    # then 400 invalid names exactly the same paths, and nothing changed (no version, no audit)
    assert_error(response, 400, "invalid", fields)
    assert db_state() == before


@pytest.mark.parametrize("terms", [[], "terms", 42, [DESIGN_TERMS]], ids=["list", "string", "number", "list-of-terms"])
def test_api_refuses_terms_that_are_not_an_object(world, approved, terms):
    # given terms that are not an object
    before = db_state()
    # when drafted
    response = post_version(world, approved.contract.pk, terms, this_period(world.hoshi).isoformat())
    # then they are refused as a whole
    assert_error(response, 400, "invalid", {"terms": ["must be an object."]})
    assert db_state() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"effective_from": "2026-10-01"}, {"terms": ["This field is required."]}),
        ({"terms": None, "effective_from": "2026-10-01"}, {"terms": ["This field may not be null."]}),
        ({"terms": DESIGN_TERMS}, {"effective_from": ["This field is required."]}),
        (
            {"terms": DESIGN_TERMS, "effective_from": "2026-13-01"},
            {"effective_from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"terms": DESIGN_TERMS, "effective_from": "October"},
            {"effective_from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
    ],
    ids=["no-terms", "null-terms", "no-date", "bad-month", "not-a-date"],
)
def test_api_refuses_a_malformed_envelope(world, approved, body, fields):
    # given a request body missing a field or with a bad date
    before = db_state()
    # when drafted
    response = api_as(world.hoshi_manager).post(
        f"/api/v1/contracts/{approved.contract.pk}/versions", body, format="json"
    )
    # then the field is named, and nothing changed
    assert_error(response, 400, "invalid", fields)
    assert db_state() == before


def test_api_effective_from_must_be_the_first_of_a_month(world, approved):
    # given the 15th of this period
    day = this_period(world.hoshi) + timedelta(days=14)
    before = db_state()
    # when drafted from that day
    response = post_version(world, approved.contract.pk, DESIGN_TERMS, day.isoformat())
    # then it is refused under effective_from
    assert_error(response, 400, "invalid", {"effective_from": [f"{day} is not the first day of a month."]})
    assert db_state() == before


def test_api_first_version_cannot_start_before_the_current_period(world, approved):
    # given the start of the previous period
    start = this_period(world.hoshi)
    previous = (start - timedelta(days=1)).replace(day=1)
    before = db_state()
    # when a first version is drafted from it
    response = post_version(world, approved.contract.pk, DESIGN_TERMS, previous.isoformat())
    # then it is refused: the current period is the earliest start
    assert_error(response, 400, "invalid", {"effective_from": [f"must be {start} or later."]})
    assert db_state() == before


@pytest.mark.parametrize("offset_periods", [0, -1], ids=["this-period", "last-period"])
def test_api_amendment_must_start_after_the_current_period(world, offset_periods):
    # given an active placement under v1 from this period
    placement = hire(world)
    start = this_period(world.hoshi)
    day = start if offset_periods == 0 else (start - timedelta(days=1)).replace(day=1)
    before = db_state()
    # when an amendment is drafted from this (or an earlier) period
    response = post_version(world, placement.contract.pk, design_terms(hold_days=10), day.isoformat())
    # then it is refused: an amendment never rewrites the current period
    assert_error(response, 400, "invalid", {"effective_from": [f"must be {next_period_start(start)} or later."]})
    assert db_state() == before


def test_api_edit_with_invalid_terms_leaves_the_draft_untouched(world, approved):
    # given a draft v1
    start = this_period(world.hoshi).isoformat()
    assert post_version(world, approved.contract.pk, DESIGN_TERMS, start).status_code == 201
    before = db_state()
    # when the manager saves invalid terms into it
    response = api_as(world.hoshi_manager).put(
        f"/api/v1/contracts/{approved.contract.pk}/versions/1",
        {"terms": with_path("attribution.window_days", 366), "effective_from": start},
        format="json",
    )
    # then it is refused and the draft keeps its terms
    assert_error(response, 400, "invalid", {"attribution.window_days": [WINDOW]})
    assert db_state() == before
    assert ContractVersion.objects.get().terms == DESIGN_TERMS


def test_api_stores_terms_exactly_as_validated(world, approved):
    # given terms with optional keys left out
    terms = without("outcome_fees", "cap_per_period")
    # when drafted
    response = post_version(world, approved.contract.pk, terms, this_period(world.hoshi).isoformat())
    # then the stored and returned terms are the canonical form
    assert response.status_code == 201
    expected = {**DESIGN_TERMS, "outcome_fees": {}, "cap_per_period": None}
    assert response.json()["terms"] == expected
    assert ContractVersion.objects.get().terms == expected


def test_the_review_window_is_optional_validated_and_described():
    from contracts.terms import review_window_days, terms_describe, terms_validate
    from core.errors import ValidationFailed
    from tests.support.world import design_terms

    # given terms without "review" (every version written before it existed): 7 days, unchanged shape
    canonical = terms_validate(design_terms(), known_payees=["platform", "studio-aoi"])
    assert "review" not in canonical
    assert review_window_days(canonical) == 7
    # given a 10-day window: kept, and told to the partner
    canonical = terms_validate(design_terms(review={"window_days": 10}), known_payees=["platform", "studio-aoi"])
    assert canonical["review"] == {"window_days": 10}
    assert terms_describe(canonical)[-1].startswith("You may question a statement's lines or sales for 10 days")
    # given a bad one: refused under its path
    for bad, path in [({"window_days": 0}, "review.window_days"), ({"days": 3}, "review"), ([], "review")]:
        with pytest.raises(ValidationFailed) as refused:
            terms_validate(design_terms(review=bad), known_payees=["platform", "studio-aoi"])
        assert path in refused.value.fields
