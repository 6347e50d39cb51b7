"""What makes a sale or refund event valid, written once (DESIGN.md §5b).

A partner reports events two ways: the API (`services/ingestion.py`, one cheap Python pass
per event) and CSV files (`services/uploads.py`, set-based SQL over the staged rows). Both
are driven from the objects below: each field's limits, and for each way it can be wrong a
stable rejection code and one message template. The API checks an event field by field in
SALE_FIELD_RULES' order and stops at the first problem; a file lists every problem of a row,
in the same order, so a row's first problem is the one the API would name.

Where the two paths must differ, the difference is declared here rather than left to drift:
- a file's cells are text, so checks of JSON types (and of characters a UTF-8 CSV cannot
  carry) are the API's alone (`Problem.api_only`);
- a file's reader sees rows, not the values sent, so some file messages end with the bad
  cell (`Problem.echo_in_file`: "…; got 'abc'.");
- positions read "this batch (index 3)" in the API and "this file (row 4)" in a file;
- `{x!r}` quotes with repr in Python and quote_literal in SQL: the same text unless it
  holds a quote, a backslash or a control character.

One difference is known and not yet reconciled: a time. The API reads any spelling
`datetime.fromisoformat` takes; a file those of FILE_OCCURRED_AT_RE, a subset (no week
dates, basic format, offsets of 16 hours or more, …), at the same instant. The upload
tests pin the file's refusals, so widening it is a decision of its own;
tests/revenue/test_sale_rules_parity.py lists the spellings only the API takes.

Plain Python: nothing from models or services, so both paths and the serializers import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from string import Formatter
from typing import Any, Literal, TypeAlias, overload

from core.currencies import MINOR_UNIT_EXPONENT, is_known_currency


class RejectionCode(StrEnum):
    """Why one event of a batch was not stored. Part of the public API (DESIGN.md §5b)."""

    INVALID = "invalid"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_CURRENCY = "unknown_currency"
    CURRENCY_MISMATCH = "currency_mismatch"
    CONFLICT = "conflict"
    UNKNOWN_SALE = "unknown_sale"
    REFUND_EXCEEDS_SALE = "refund_exceeds_sale"
    UNKNOWN_PLACEMENT = "unknown_placement"
    PLACEMENT_INACTIVE = "placement_inactive"
    UNKNOWN_OUTCOME = "unknown_outcome"


# --- limits -------------------------------------------------------------------------------

MAX_KEY_LENGTH = 128
MAX_AMOUNT = 2**62
# Times outside this range are mistakes (a clock, a zone, a parser), not business: a sale
# dated in the future would land in a period nobody has settled yet.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
OCCURRED_AT_HELP = "an ISO 8601 date-time with a UTC offset, e.g. 2026-10-03T12:01:00+09:00"
SALE_TYPES = ("sale", "refund")
SALE_OPTIONAL_KEYS = ("coupon_code", "click_id", "conversation_id", "customer_ref", "store_id")
# Every field an event may carry, in the order a CSV template lists them.
SALE_FIELD_ORDER = ("external_id", "type", "occurred_at", "amount", "currency", *SALE_OPTIONAL_KEYS, "refund_of")
SALE_FIELDS = frozenset(SALE_FIELD_ORDER)
# Required whatever the type; a refund also needs refund_of (see REFUND_OF).
REQUIRED_FIELDS = ("external_id", "type", "occurred_at", "amount", "currency")
# A file cell echoed in a message is cut to this many characters.
ECHO_MAX = 40


# --- problems: code and message -----------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One way an event can be wrong: the field at fault (the file's column), its stable
    code and its message. The template's placeholders are the values at fault, filled by
    `message` in Python and by `sql` in SQL (`{x!r}` quotes: repr in Python, quote_literal
    in SQL; the two agree on text without quotes, backslashes or control characters)."""

    tag: str  # the problem's name inside the file path's SQL
    field: str
    code: RejectionCode
    template: str
    echo_in_file: bool = False
    api_only: bool = False

    def __post_init__(self) -> None:
        # The SQL is run with psycopg parameters, where a literal % would need doubling.
        if "%" in self.template:
            raise ValueError(f"a message template cannot hold %: {self.template!r}")

    def message(self, **values: Any) -> str:
        return self.template.format(**values)

    def sql(self, *, echo: str | None = None, **expressions: str) -> str:
        """The message as an SQL text expression; `expressions` are SQL for the
        placeholders, `echo` the SQL of the cell a file's message ends with."""
        template, echoed = self.template, echo is not None and self.echo_in_file
        if echoed:
            template = template.removesuffix(".")
        parts: list[str] = []
        for literal, name, _spec, conversion in Formatter().parse(template):
            if literal:
                parts.append(sql_literal(literal))
            if name is not None:
                expression = expressions[name]
                parts.append(f"quote_literal({expression})" if conversion == "r" else f"({expression})")
        if echoed:
            parts.append(f"coalesce('; got ' || quote_literal(nullif(left({echo}, {ECHO_MAX}), '')), '')")
            parts.append("'.'")
        return " || ".join(parts)


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_quote(text: str) -> str:
    """What PostgreSQL's quote_literal makes of `text` (how a file's message quotes a cell)."""
    quoted = "'" + text.replace("'", "''").replace("\\", "\\\\") + "'"
    return ("E" + quoted) if "\\" in text else quoted


@cache
def _text_problems(name: str) -> dict[str, Problem]:
    return {
        "required": Problem("required", name, RejectionCode.INVALID, f"{name} is required."),
        "not_text": Problem("not_text", name, RejectionCode.INVALID, f"{name} must be a string.", api_only=True),
        "too_long": Problem(
            "too_long", name, RejectionCode.INVALID, f"{name} is longer than {MAX_KEY_LENGTH} characters."
        ),
        # NUL cannot be stored in PostgreSQL text, nor a lone surrogate encoded as UTF-8; a
        # file holding either is refused whole before any row is checked.
        "unstorable": Problem(
            "unstorable",
            name,
            RejectionCode.INVALID,
            f"{name} contains characters that cannot be stored.",
            api_only=True,
        ),
    }


@dataclass(frozen=True)
class FieldRule:
    """A field's limits and its problems, in the order they are looked for."""

    name: str
    kind: str  # "text", "choice", "instant", "amount", "currency"
    problems: Mapping[str, Problem]
    # text: required for every event, or only for refunds ("refund"); forbidden on sales.
    required: str = "always"
    forbidden_for: str | None = None


_AMOUNT_HELP = f"amount must be a positive integer in the currency's minor unit (at most {MAX_AMOUNT})."

EXTERNAL_ID = FieldRule("external_id", "text", _text_problems("external_id"))
TYPE = FieldRule(
    "type",
    "choice",
    {
        "invalid": Problem(
            "invalid", "type", RejectionCode.INVALID, 'type must be "sale" or "refund".', echo_in_file=True
        ),
    },
)
OCCURRED_AT = FieldRule(
    "occurred_at",
    "instant",
    {
        "required": Problem(
            "required", "occurred_at", RejectionCode.INVALID, f"occurred_at is required: {OCCURRED_AT_HELP}."
        ),
        "invalid": Problem(
            "invalid",
            "occurred_at",
            RejectionCode.INVALID,
            f"occurred_at must be {OCCURRED_AT_HELP}.",
            echo_in_file=True,
        ),
        "naive": Problem(
            "naive",
            "occurred_at",
            RejectionCode.INVALID,
            f"occurred_at has no UTC offset; send {OCCURRED_AT_HELP}.",
            echo_in_file=True,
        ),
        # Python cannot convert year 1 or 9999 near its limits to UTC; a file's pattern admits no such year.
        "overflow": Problem(
            "overflow", "occurred_at", RejectionCode.INVALID, "occurred_at is out of range.", api_only=True
        ),
        "range": Problem(
            "range",
            "occurred_at",
            RejectionCode.INVALID,
            "occurred_at must lie between 2000-01-01 and now; got {occurred_at}.",
        ),
    },
)
AMOUNT = FieldRule(
    "amount",
    "amount",
    {
        "invalid": Problem("invalid", "amount", RejectionCode.INVALID, _AMOUNT_HELP, echo_in_file=True),
    },
)
CURRENCY = FieldRule(
    "currency",
    "currency",
    {
        "required": Problem("required", "currency", RejectionCode.INVALID, "currency is required (ISO 4217)."),
        "unknown": Problem(
            "unknown", "currency", RejectionCode.UNKNOWN_CURRENCY, "{currency!r} is not an ISO 4217 currency."
        ),
        "mismatch": Problem(
            "mismatch",
            "currency",
            RejectionCode.CURRENCY_MISMATCH,
            "This partner reports sales in {partner_currency}, not {currency}.",
        ),
    },
)
REFUND_OF = FieldRule(
    "refund_of",
    "text",
    {
        **_text_problems("refund_of"),
        "not_refund": Problem("not_refund", "refund_of", RejectionCode.INVALID, "Only a refund names refund_of."),
    },
    required="refund",
    forbidden_for="sale",
)
KEYS = tuple(FieldRule(name, "text", _text_problems(name), required="never") for name in SALE_OPTIONAL_KEYS)

# The order the API looks at an event's fields (refund_of before the optional keys), and the
# order a file lists a row's problems.
SALE_FIELD_RULES = (EXTERNAL_ID, TYPE, OCCURRED_AT, AMOUNT, CURRENCY, REFUND_OF, *KEYS)

UNKNOWN_FIELD = Problem("unknown_field", "", RejectionCode.UNKNOWN_FIELD, "Unknown field(s): {names}.", api_only=True)
NOT_AN_OBJECT = Problem("not_object", "", RejectionCode.INVALID, "Each event must be a JSON object.", api_only=True)


# --- problems that need what is stored ----------------------------------------------------

CONFLICT_STORED = Problem(
    "conflict",
    "external_id",
    RejectionCode.CONFLICT,
    "external_id {external_id!r} was already received with different content; an event cannot be changed "
    "once sent (send a refund, and a new sale with a new external_id).",
)
# `earlier`: "this batch (index 3)" in the API, "this file (row 4)" in a file.
CONFLICT_EARLIER = Problem(
    "conflict_earlier",
    "external_id",
    RejectionCode.CONFLICT,
    "external_id {external_id!r} appears earlier in {earlier} with different content.",
)

# A refund's checks against its sale, in the order they are made; the first that fails counts.
REFUND_OF_REFUND = Problem(
    "refund_of_refund",
    "refund_of",
    RejectionCode.INVALID,
    "refund_of names {refund_of!r}, a refund; name the original sale.",
)
# `later`: empty, or " (it comes later in this batch: put the sale first)" (the file names the row).
UNKNOWN_SALE = Problem(
    "unknown_sale", "refund_of", RejectionCode.UNKNOWN_SALE, "refund_of names no sale of yours: {refund_of!r}{later}."
)
REFUND_CURRENCY = Problem(
    "currency_mismatch",
    "currency",
    RejectionCode.CURRENCY_MISMATCH,
    "Sale {refund_of!r} is in {sale_currency}; refund in that currency.",
)
BEFORE_SALE = Problem(
    "before_sale", "occurred_at", RejectionCode.INVALID, "The refund occurs before its sale {refund_of!r}."
)
REFUND_EXCEEDS = Problem(
    "exceeds",
    "amount",
    RejectionCode.REFUND_EXCEEDS_SALE,
    "Refunding {amount} would exceed sale {refund_of!r}: {left_to_refund} of its {sale_amount} is left to refund.",
)
REFUND_RULES = (REFUND_OF_REFUND, UNKNOWN_SALE, REFUND_CURRENCY, BEFORE_SALE, REFUND_EXCEEDS)


def in_batch(index: int) -> str:
    return f"this batch (index {index})"


def later_in_batch() -> str:
    return " (it comes later in this batch: put the sale first)"


# The file's wording of the same positions, as SQL over a row number expression.
def in_file_sql(row: str) -> str:
    return f"'this file (row ' || {row} || ')'"


def later_in_file_sql(row: str) -> str:
    return f"' (it comes later in this file, row ' || {row} || ': put the sale first)'"


# --- the API's reading: one event in Python -----------------------------------------------


class Rejected(Exception):
    """An event breaks a rule: `problem`, with its message rendered."""

    def __init__(self, problem: Problem, field: str | None = None, **values: Any) -> None:
        self.problem = problem
        self.code = problem.code
        self.message = problem.message(**values)
        self.field = problem.field if field is None else field
        super().__init__(self.message)


# NUL cannot be stored in PostgreSQL text, and a lone surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable_key(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH and not _UNSTORABLE.search(value)


@overload
def check_text(
    value: Any, *, name: str, required: Literal[True], problems: Mapping[str, Problem] | None = None
) -> str: ...
@overload
def check_text(
    value: Any, *, name: str, required: bool, problems: Mapping[str, Problem] | None = None
) -> str | None: ...
def check_text(value: Any, *, name: str, required: bool, problems: Mapping[str, Problem] | None = None) -> str | None:
    """A string of 1–MAX_KEY_LENGTH characters; an absent, null or empty optional one is None."""
    problems = problems or _text_problems(name)
    if value is None or value == "":
        if required:
            raise Rejected(problems["required"])
        return None
    if type(value) is not str:
        raise Rejected(problems["not_text"])
    if len(value) > MAX_KEY_LENGTH:
        raise Rejected(problems["too_long"])
    if _UNSTORABLE.search(value):
        raise Rejected(problems["unstorable"])
    return value


@cache
def _instant_problems(name: str) -> Mapping[str, Problem]:
    if name == OCCURRED_AT.name:
        return OCCURRED_AT.problems
    return {
        tag: Problem(
            tag,
            name,
            problem.code,
            problem.template.replace("occurred_at", name),
            problem.echo_in_file,
            problem.api_only,
        )
        for tag, problem in OCCURRED_AT.problems.items()
    }


def check_instant(value: Any, *, name: str, latest: datetime) -> datetime:
    """An aware ISO 8601 date-time between EARLIEST_OCCURRED_AT and `latest`, in UTC."""
    problems = _instant_problems(name)
    if value is None:
        raise Rejected(problems["required"])
    if type(value) is not str:
        raise Rejected(problems["invalid"])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected(problems["invalid"]) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Rejected(problems["naive"])
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise Rejected(problems["overflow"]) from None
    if moment < EARLIEST_OCCURRED_AT or moment > latest:
        raise Rejected(problems["range"], **{name: value})
    return moment


def check_unknown_fields(event: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    if not allowed.issuperset(event):
        unknown = [str(name) for name in event if name not in allowed]
        raise Rejected(UNKNOWN_FIELD, unknown[0], names=", ".join(sorted(unknown)))


_Check = Callable[[Any, str | None, str, datetime], Any]


def _api_check(rule: FieldRule) -> _Check:
    """The API's reading of `rule`, built once: a function of (the value sent, the event's
    type when it is known, the partner's currency, the latest time allowed) that returns
    the value typed or raises Rejected."""
    problems, name = rule.problems, rule.name
    if rule.kind == "text":
        always, required_for, forbidden_for = rule.required == "always", rule.required, rule.forbidden_for

        # check_text, inlined: the API reads six text fields of up to 1,000 events a request.
        def check_field(value: Any, kind: str | None, currency: str, latest: datetime) -> Any:
            if value is None or value == "":
                if always or required_for == kind:
                    raise Rejected(problems["required"])
                return None
            if type(value) is not str:
                raise Rejected(problems["not_text"])
            if len(value) > MAX_KEY_LENGTH:
                raise Rejected(problems["too_long"])
            if _UNSTORABLE.search(value):
                raise Rejected(problems["unstorable"])
            if forbidden_for is not None and forbidden_for == kind:
                raise Rejected(problems["not_refund"])
            return value
    elif rule.kind == "choice":

        def check_field(value: Any, kind: str | None, currency: str, latest: datetime) -> Any:
            if value not in SALE_TYPES:
                raise Rejected(problems["invalid"])
            return value
    elif rule.kind == "instant":

        def check_field(value: Any, kind: str | None, currency: str, latest: datetime) -> Any:
            return check_instant(value, name=name, latest=latest)
    elif rule.kind == "amount":

        def check_field(value: Any, kind: str | None, currency: str, latest: datetime) -> Any:
            if type(value) is not int or value <= 0 or value > MAX_AMOUNT:
                raise Rejected(problems["invalid"])
            return value
    elif rule.kind == "currency":

        def check_field(value: Any, kind: str | None, currency: str, latest: datetime) -> Any:
            if value is None:
                raise Rejected(problems["required"])
            if not is_known_currency(value):
                raise Rejected(problems["unknown"], currency=value)
            if value != currency:
                raise Rejected(problems["mismatch"], currency=value, partner_currency=currency)
            return value
    else:
        raise ValueError(f"no API check for a {rule.kind} field")
    return check_field


_API_CHECKS = tuple((rule.name, _api_check(rule)) for rule in SALE_FIELD_RULES)


def check_sale_event(event: Any, *, partner_currency: str, latest: datetime) -> dict[str, Any]:
    """The event's values, typed (occurred_at in UTC, absent keys None), if it keeps every
    rule of SALE_FIELD_RULES; else Rejected for the first rule it breaks, in that order."""
    if not isinstance(event, dict):
        raise Rejected(NOT_AN_OBJECT)
    check_unknown_fields(event, SALE_FIELDS)
    values: dict[str, Any] = {}
    for name, check_field in _API_CHECKS:
        # type is known once checked (external_id comes before it).
        values[name] = check_field(event.get(name), values.get("type"), partner_currency, latest)
    return values


# --- the file's reading: every staged row at once, in SQL ---------------------------------

# A file's cells are text. Dates and times a timestamptz cast accepts and that carry their
# offset; the day of the month is checked against the month (FILE_INSTANT_SQL), so no row
# that passes can make the cast fail.
FILE_OCCURRED_AT_RE = (
    r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)$"
)
# The same without the offset: a local time, refused with its own explanation.
FILE_NAIVE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$"


def file_instant_sql(cell: str) -> str:
    """SQL: the cell as a timestamptz, NULL when it does not spell one with its offset.
    Needs the parameter %(at_re)s = FILE_OCCURRED_AT_RE."""
    year, month, day = (f"substr({cell}, {start}, {length})::int" for start, length in ((1, 4), (6, 2), (9, 2)))
    return (
        f"CASE WHEN {cell} ~ %(at_re)s AND {day} <= CASE {month} "
        f"WHEN 2 THEN 28 + ({year} %% 4 = 0 AND ({year} %% 100 <> 0 OR {year} %% 400 = 0))::int "
        f"WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 ELSE 31 END "
        f"THEN {cell}::timestamptz END"
    )


def file_amount_sql(cell: str) -> str:
    """SQL: the cell as a bigint amount, NULL unless it spells an integer in 1..MAX_AMOUNT
    (digits only: no sign, no decimal point, no exponent, as a JSON integer would be)."""
    return (
        f"CASE WHEN length({cell}) BETWEEN 1 AND {len(str(MAX_AMOUNT))} AND ltrim({cell}, '0123456789') = '' "
        f"AND {cell}::numeric BETWEEN 1 AND {MAX_AMOUNT} THEN {cell}::bigint END"
    )


# A value a query here passes as a parameter (a kind CursorWrapper.execute takes, in django-stubs'
# words); a list goes as an array (unnest, ANY). Both paths' queries use them.
SqlValue: TypeAlias = bool | int | str | datetime | list[Any] | None
# A query's named parameters, %(name)s.
SqlParams: TypeAlias = Mapping[str, SqlValue]

FILE_CHECK_PARAMS: SqlParams = {
    "at_re": FILE_OCCURRED_AT_RE,
    "naive_re": FILE_NAIVE_RE,
    "earliest": EARLIEST_OCCURRED_AT,
    "currencies": sorted(MINOR_UNIT_EXPONENT),
}


def _file_checked(rule: FieldRule) -> list[Problem]:
    return [problem for problem in rule.problems.values() if not problem.api_only]


def file_problem_sql(rule: FieldRule, *, row: str, at: str, amount: str) -> str:
    """SQL: the tag of the first problem of `rule`'s cell on a staged row (NULL when fine).
    `row` is the staged row's alias, `at` and `amount` its typed occurred_at and amount.
    Parameters: %(latest)s, %(currency)s (the partner's) and FILE_CHECK_PARAMS."""
    cell = f"{row}.{rule.name}"
    empty = f"coalesce({cell}, '') = ''"
    whens: list[tuple[str, str]] = []
    if rule.kind == "text":
        if rule.required == "always":
            whens.append((empty, "required"))
        elif rule.required in SALE_TYPES:
            whens.append((f"{row}.type = {sql_literal(rule.required)} AND {empty}", "required"))
        whens.append((f"length({cell}) > {MAX_KEY_LENGTH}", "too_long"))
        if rule.forbidden_for is not None:
            whens.append((f"{row}.type = {sql_literal(rule.forbidden_for)} AND {cell} <> ''", "not_refund"))
    elif rule.kind == "choice":
        choices = ", ".join(sql_literal(choice) for choice in SALE_TYPES)
        whens.append((f"{cell} IS NULL OR {cell} NOT IN ({choices})", "invalid"))
    elif rule.kind == "instant":
        return (
            f"CASE WHEN {empty} THEN 'required' "
            f"WHEN {at} IS NOT NULL THEN CASE WHEN {at} < %(earliest)s OR {at} > %(latest)s THEN 'range' END "
            f"WHEN {cell} ~ %(naive_re)s THEN 'naive' ELSE 'invalid' END"
        )
    elif rule.kind == "amount":
        whens.append((f"{amount} IS NULL", "invalid"))
    elif rule.kind == "currency":
        return (
            f"CASE WHEN {empty} THEN 'required' WHEN {cell} = %(currency)s THEN NULL "
            f"WHEN {cell} = ANY(%(currencies)s) THEN 'mismatch' ELSE 'unknown' END"
        )
    # Every tag named here has its code and message in the rule (an optional key is never "required").
    assert {tag for _, tag in whens} <= {problem.tag for problem in _file_checked(rule)}, rule.name
    return "CASE " + " ".join(f"WHEN {condition} THEN '{tag}'" for condition, tag in whens) + " END"


def file_rejection_sql(
    rule: FieldRule, *, seq: int, tag: str, values: Mapping[str, str], echo: str | None = None
) -> str:
    """SQL: one `(seq, column, code, reason)` row of VALUES for `rule` on a checked row
    whose problem tag is the expression `tag` (reason NULL when the cell is fine).
    `values`: SQL for the messages' placeholders; `echo`: the bad cell a message ends with."""
    problems = _file_checked(rule)
    codes = {problem.code for problem in problems}
    if len(codes) == 1:
        code = sql_literal(codes.pop())
    else:
        code = f"CASE {tag} " + " ".join(f"WHEN '{p.tag}' THEN {sql_literal(p.code)}" for p in problems) + " END"
    reason = f"CASE {tag} " + " ".join(f"WHEN '{p.tag}' THEN {p.sql(echo=echo, **values)}" for p in problems) + " END"
    return f"({seq}, {sql_literal(rule.name)}, {code}, {reason})"
