"""Month end for finance: the statement list a page at a time (keyset cursor), and the
statements of a settlement run submitted and approved in bulk, each through its own
checks, through the API and the finance console."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.models import AuditLog, User
from ledger.models import JournalEntry
from revenue.models import SettlementRun, Statement
from revenue.pagination import BACKWARD, FORWARD, Position, cursor_encode
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.api import assert_error
from tests.support.factories import UserFactory
from tests.support.revenue import backdate, sale, touch
from tests.support.web import browser, stored, text
from tests.support.world import api_as, hire

TOKYO = ZoneInfo("Asia/Tokyo")
AUG, SEP, OCT = date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)


@pytest.fixture
def approver(world) -> User:
    """A second finance person: whoever submits a statement, another approves it (four eyes)."""
    return UserFactory(username="finance-2", role=User.Role.FINANCE)


def submit_and_approve(world, approver: User, statement: Statement) -> Statement:
    statement_submit(actor=world.finance, statement=statement)
    return statement_approve(actor=approver, statement=statement)


def settle(period: date) -> SettlementRun:
    return settlement_run_execute(run_id=SettlementRun.objects.create(period=period).pk)


@pytest.fixture
def three_contracts(world):
    """Hoshi × Rinna, Hoshi × Kai, Wayfarer × Kai, each with one attributed sale a month
    from August to October, settled into drafts (nine statements)."""
    placements = [
        backdate(hire(world)),
        backdate(hire(world, employee="kai")),
        backdate(hire(world, partner="wayfarer", employee="kai")),
    ]
    for n, placement in enumerate(placements):
        for month in (8, 9, 10):
            code = f"P{n}-{month}"
            touch(placement, "coupon", code, datetime(2026, month, 2, 9, tzinfo=TOKYO))
            sale(placement.partner, datetime(2026, month, 3, 12, tzinfo=TOKYO), 100_000 * (n + 1), coupon_code=code)
    runs = {period: settle(period) for period in (AUG, SEP, OCT)}
    return placements, runs


def keys(rows: list[dict]) -> list[tuple[str, int]]:
    return [(row["period"], row["contract"]) for row in rows]


# --- GET /api/v1/statements, a page at a time -------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 4, 8, 9, 10])
def test_the_pages_walk_every_statement_once_in_period_then_contract_order_and_back(world, three_contracts, size):
    # given nine statements (three contracts × three months)
    client = api_as(world.finance)
    expected = [
        (f"{p:%Y-%m}", s.contract_id)
        for p, s in sorted(
            ((s.period, s) for s in Statement.objects.all()), key=lambda ps: (-ps[0].toordinal(), ps[1].contract_id)
        )
    ]
    assert len(expected) == 9
    # when finance follows `next`, `size` at a time
    pages, url = [], f"/api/v1/statements?page_size={size}"
    while url:
        body = client.get(url).json()
        assert set(body) == {"next", "previous", "results"}
        pages.append(body)
        url = body["next"]
    # then every statement comes once, newest period first, then by contract
    assert [len(page["results"]) for page in pages] == [size] * (9 // size) + ([9 % size] if 9 % size else [])
    assert [key for page in pages for key in keys(page["results"])] == expected
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    # and `previous` from the last page walks back through the same pages
    back, url = [], pages[-1]["previous"]
    while url:
        body = client.get(url).json()
        back.append(keys(body["results"]))
        url = body["previous"]
    assert back == [keys(page["results"]) for page in reversed(pages[:-1])]


def test_a_statement_approved_between_pages_neither_repeats_nor_goes_missing(world, three_contracts, approver):
    # given the first page of September's three statements
    client = api_as(world.finance)
    first = client.get("/api/v1/statements?period=2026-09&page_size=2").json()
    # when finance approves August's first statement meanwhile (any write between two pages)
    august = Statement.objects.filter(period=AUG).order_by("contract_id").first()
    submit_and_approve(world, approver, august)
    second = client.get(first["next"]).json()
    # then the next page holds exactly the one statement left, and the filter was kept
    september = list(Statement.objects.filter(period=SEP).order_by("contract_id").values_list("contract_id", flat=True))
    assert keys(first["results"]) + keys(second["results"]) == [("2026-09", c) for c in september]
    assert second["next"] is None and "period=2026-09" in second["previous"]


def test_items_keep_their_shape_and_a_partner_still_sees_only_its_approved_statements(world, three_contracts, approver):
    # given Hoshi's October statements approved (Wayfarer's still drafts)
    for statement in Statement.objects.filter(period__lte=OCT, contract__placement__partner=world.hoshi).order_by(
        "period", "contract_id"
    ):
        submit_and_approve(world, approver, statement)
    # when Wayfarer's owner and Hoshi's owner list October
    wayfarer = api_as(world.wayfarer_owner).get("/api/v1/statements?period=2026-10").json()
    hoshi = api_as(world.hoshi_owner).get("/api/v1/statements?period=2026-10").json()
    # then Wayfarer sees none, Hoshi its two, with every field the list always had
    assert wayfarer == {"next": None, "previous": None, "results": []}
    assert [row["partner"] for row in hoshi["results"]] == ["hoshi-mart", "hoshi-mart"]
    assert set(hoshi["results"][0]) == {
        "id",
        "period",
        "partner",
        "employee",
        "placement",
        "contract",
        "status",
        "currency",
        "version_number",
        "net",
        "wage",
        "clawback",
        "outcome_clawback",
        "carried_credit",
        "adjustments",
        "total",
        "payable",
        "credit_carried_forward",
        "effective_rate",
        "computed_at",
        "approved_at",
        "lines",
        "splits",
    }


@pytest.mark.parametrize(
    "cursor", ["not-a-cursor", "%00%01", cursor_encode(Position(OCT, 1, FORWARD))[:-3], "WyJ4IiwiMjAyNi0xMC0wMSIsMV0"]
)  # ["x","2026-10-01",1]: no such direction
def test_a_cursor_the_api_did_not_issue_is_400_invalid(world, three_contracts, cursor):
    client = api_as(world.finance)
    before = stored()
    response = client.get("/api/v1/statements", {"cursor": cursor})
    error = assert_error(response, 400, "invalid", {"cursor": ["is not a cursor this API issued."]})
    assert error["message"] == (
        "The cursor is not valid: use the `next` or `previous` link of an earlier page as it is."
    )
    assert stored() == before


@pytest.mark.parametrize("size", ["0", "501", "ten", "-3"])
def test_a_page_size_out_of_range_is_400_invalid(world, three_contracts, size):
    response = api_as(world.finance).get("/api/v1/statements", {"page_size": size})
    assert_error(response, 400, "invalid", {"page_size": ["must be between 1 and 500."]})


def test_a_cursor_past_the_end_answers_an_empty_page_with_a_way_back(world, three_contracts):
    # given a cursor after the oldest statement there is
    last = Statement.objects.order_by("period", "-contract_id").first()
    cursor = cursor_encode(Position(last.period, last.contract_id, FORWARD))
    client = api_as(world.finance)
    # when finance asks for it
    body = client.get("/api/v1/statements", {"cursor": cursor, "page_size": 3}).json()
    # then no rows, no next, and `previous` leads to the last three
    assert (body["results"], body["next"]) == ([], None)
    back = client.get(body["previous"]).json()
    assert keys(back["results"])[-1] == (f"{last.period:%Y-%m}", last.contract_id)
    assert len(back["results"]) == 3
    # and a backward cursor before the newest statement is an empty first page
    newest = Statement.objects.order_by("-period", "contract_id").first()
    body = client.get(
        "/api/v1/statements", {"cursor": cursor_encode(Position(newest.period, newest.contract_id, BACKWARD))}
    ).json()
    assert (body["results"], body["previous"]) == ([], None)
    assert len(client.get(body["next"]).json()["results"]) == 9


def test_the_schema_documents_the_cursor_the_page_size_and_the_page_shape(world):
    schema = api_as(world.finance).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/statements"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"cursor", "page_size", "period", "status"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert page["required"] == ["next", "previous", "results"]
    assert page["properties"]["results"]["items"]["$ref"].endswith("/Statement")
    assert "/api/v1/settlement-runs/{run_id}/approve" in schema["paths"]
    assert "/api/v1/settlement-runs/{run_id}/submit" in schema["paths"]


# --- bulk submit / approve of a run ----------------------------------------------------------


def audit_of(action: str) -> list[tuple[str, str]]:
    return list(AuditLog.objects.filter(action=action).order_by("pk").values_list("actor_label", "target_id"))


def test_a_run_is_submitted_then_approved_in_bulk_each_through_its_own_checks(world, three_contracts, approver):
    # given the August run's three drafts
    _placements, runs = three_contracts
    client = api_as(world.finance)
    august = list(Statement.objects.filter(period=AUG).order_by("contract_id"))
    # when finance submits the run
    submitted = client.post(f"/api/v1/settlement-runs/{runs[AUG].pk}/submit", {}, format="json")
    # then each draft went to review, reported one by one
    assert submitted.status_code == 200
    assert submitted.json() == {
        "run": runs[AUG].pk,
        "period": "2026-08",
        "action": "submit",
        "counts": {"submitted": 3, "refused": 0},
        "results": [
            {
                "statement": s.pk,
                "contract": s.contract_id,
                "partner": s.contract.placement.partner.slug,
                "outcome": "submitted",
                "status": "in_review",
                "error": None,
            }
            for s in august
        ],
    }
    # and each has the single action's own audit row, plus one row for the batch
    assert audit_of("statement.in_review") == [("finance", str(s.pk)) for s in august]
    assert audit_of("settlement_run.batch_submit") == [("finance", str(runs[AUG].pk))]
    # when it approves the run
    approved = api_as(approver).post(f"/api/v1/settlement-runs/{runs[AUG].pk}/approve", {}, format="json").json()
    # then all three are approved and posted to the ledger, one entry each, as single approvals
    assert approved["counts"] == {"approved": 3, "refused": 0}
    assert sorted(Statement.objects.filter(period=AUG).values_list("status", flat=True)) == ["approved"] * 3
    assert JournalEntry.objects.filter(idempotency_key__in=[f"statement:{s.pk}:approved" for s in august]).count() == 3
    assert audit_of("statement.approved") == [("finance-2", str(s.pk)) for s in august]


def test_one_refused_statement_does_not_hold_back_the_others(world, three_contracts, approver):
    # given September submitted, and then a new sale for the second contract (its draft is stale)
    placements, runs = three_contracts
    client = api_as(world.finance)
    for statement in Statement.objects.filter(period=AUG).order_by("contract_id"):
        submit_and_approve(world, approver, statement)
    client.post(f"/api/v1/settlement-runs/{runs[SEP].pk}/submit", {}, format="json")
    stale = Statement.objects.get(period=SEP, contract=placements[1].contract)
    touch(placements[1], "coupon", "LATE", datetime(2026, 9, 20, 9, tzinfo=TOKYO))
    sale(world.hoshi, datetime(2026, 9, 21, 12, tzinfo=TOKYO), 5_000, coupon_code="LATE")
    before_stale = Statement.objects.filter(pk=stale.pk).values().get()
    # when finance approves the run
    body = api_as(approver).post(f"/api/v1/settlement-runs/{runs[SEP].pk}/approve", {}, format="json").json()
    # then the two others are approved and the stale one is refused with the single service's error
    outcomes = {
        row["statement"]: (row["outcome"], row["status"], row["error"] and row["error"]["code"])
        for row in body["results"]
    }
    assert outcomes[stale.pk] == ("refused", "in_review", "conflict")
    assert sorted(v for k, v in outcomes.items() if k != stale.pk) == [("approved", "approved", None)] * 2
    assert body["counts"] == {"approved": 2, "refused": 1}
    # and the refused statement is exactly as it was, with no ledger entry
    assert Statement.objects.filter(pk=stale.pk).values().get() == before_stale
    assert not JournalEntry.objects.filter(idempotency_key=f"statement:{stale.pk}:approved").exists()
    batch = AuditLog.objects.get(action="settlement_run.batch_approve")
    assert batch.changes["counts"] == {"approved": 2, "refused": 1}
    assert batch.changes["statements"][str(stale.pk)] == "refused: conflict"


def test_named_statements_only_and_foreign_ids_are_refused_as_not_found(world, three_contracts):
    # given October's drafts, and an August statement (another run's)
    _placements, runs = three_contracts
    october = list(Statement.objects.filter(period=OCT).order_by("contract_id"))
    august = Statement.objects.filter(period=AUG).first()
    # when finance submits one October statement, the August one and an October one twice
    body = (
        api_as(world.finance)
        .post(
            f"/api/v1/settlement-runs/{runs[OCT].pk}/submit",
            {"statements": [october[0].pk, august.pk, october[0].pk]},
            format="json",
        )
        .json()
    )
    # then only the October one moved; the other run's statement is not found
    assert [(r["statement"], r["outcome"], r["error"] and r["error"]["code"]) for r in body["results"]] == [
        (august.pk, "refused", "not_found"),
        (october[0].pk, "submitted", None),
    ]
    assert list(Statement.objects.filter(period=OCT).order_by("contract_id").values_list("status", flat=True)) == [
        "in_review",
        "draft",
        "draft",
    ]
    assert Statement.objects.get(pk=august.pk).status == "draft"
    # and approving the still-draft ones by name is refused by the single service, per statement
    body = (
        api_as(world.finance)
        .post(f"/api/v1/settlement-runs/{runs[OCT].pk}/approve", {"statements": [october[1].pk]}, format="json")
        .json()
    )
    assert [(r["outcome"], r["status"], r["error"]["code"]) for r in body["results"]] == [
        ("refused", "draft", "invalid_transition")
    ]


@pytest.mark.parametrize("who", ["hoshi_owner", "hoshi_manager"])
def test_only_finance_may_decide_a_run_in_bulk_and_refusals_change_nothing(world, three_contracts, who):
    _placements, runs = three_contracts
    client = api_as(getattr(world, who))
    before = stored()
    response = client.post(f"/api/v1/settlement-runs/{runs[AUG].pk}/submit", {}, format="json")
    assert_error(response, 404, "not_found")
    assert stored() == before


def test_a_run_not_done_or_bad_input_is_refused_whole(world, three_contracts):
    _placements, runs = three_contracts
    running = SettlementRun.objects.create(period=AUG, status=SettlementRun.Status.RUNNING)
    client = api_as(world.finance)
    before = stored()
    assert_error(
        client.post(f"/api/v1/settlement-runs/{running.pk}/approve", {}, format="json"), 409, "invalid_transition"
    )
    assert_error(
        client.post(f"/api/v1/settlement-runs/{runs[AUG].pk}/approve", {"statements": []}, format="json"),
        400,
        "invalid",
        {"statements": ["This list may not be empty."]},
    )
    assert_error(
        client.post(f"/api/v1/settlement-runs/{runs[AUG].pk}/approve", {"statements": ["x"]}, format="json"),
        400,
        "invalid",
        {"statements[0]": ["A valid integer is required."]},
    )
    assert_error(client.post("/api/v1/settlement-runs/999999/approve", {}, format="json"), 404, "not_found")
    assert stored() == before


def test_the_console_submits_and_approves_a_run_and_shows_each_outcome(world, three_contracts, approver):
    # given the August run on the finance console
    _placements, runs = three_contracts
    run = runs[AUG]
    finance = browser(world.finance)
    page = finance.get("/console/settlement/?period=2026-08")
    assert f'action="/console/settlement/runs/{run.pk}/submit/"' in page.content.decode()
    # when finance presses "Submit all drafts", then "Approve all in review"
    submitted = finance.post(f"/console/settlement/runs/{run.pk}/submit/")
    approved = browser(approver).post(f"/console/settlement/runs/{run.pk}/approve/")
    # then the page lists every statement with what happened to it
    assert (submitted.status_code, approved.status_code) == (200, 200)
    assert "3 statements submitted." in text(submitted)
    assert "3 statements approved." in text(approved)
    for statement in Statement.objects.filter(period=AUG):
        assert f'id="batch-statement-{statement.pk}"' in approved.content.decode()
        assert statement.status == "approved"
    # and a second press finds nothing left to approve, changing nothing
    before = stored()
    again = finance.post(f"/console/settlement/runs/{run.pk}/approve/")
    assert "has no statement to approve" in text(again)
    # (only the batch's own audit row is new)
    after = stored()
    assert after["counts"]["core.AuditLog"] == before["counts"]["core.AuditLog"] + 1


def test_the_console_refuses_a_run_still_running_and_others_than_finance(world, three_contracts):
    running = SettlementRun.objects.create(period=AUG, status=SettlementRun.Status.RUNNING)
    finance, manager = browser(world.finance), browser(world.hoshi_manager)
    before = stored()
    response = finance.post(f"/console/settlement/runs/{running.pk}/approve/")
    assert response.status_code == 409
    assert f"Settlement run #{running.pk} is running" in text(response)
    assert manager.post(f"/console/settlement/runs/{running.pk}/approve/").status_code == 403
    assert finance.get(f"/console/settlement/runs/{running.pk}/approve/").status_code == 405
    assert stored() == before
