"""Month end in bulk: submit or approve the statements of a settlement run at once.

Each statement still goes through the single-statement service (settlement.statement_submit
/ statement_approve) with every check it makes — role, status, period order, a stale
draft, and whatever rules those services gain — and in its own transaction, so its audit
row and ledger entry are exactly those of the single action. One statement refused does
not hold back or roll back the others: statements of one run belong to different contracts
and partners, and a stale draft at one partner is no reason to leave a hundred others
unapproved. The answer says, per statement, what happened; the batch itself is audited
once on the run, with those outcomes.

This is deliberately not @transaction.atomic as a whole (the single services are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils.translation import gettext as _

from core.errors import ApplicationError, ErrorCode, InvalidTransition, ValidationFailed
from core.models import User
from core.permissions import finance_require
from core.services import audit_record
from revenue.models import SettlementRun, Statement
from revenue.services import settlement

SUBMIT, APPROVE = "submit", "approve"
ACTIONS: dict[str, tuple[Callable[..., Statement], str, str]] = {
    # action → (single service, the status it acts from, the outcome it reports)
    SUBMIT: (settlement.statement_submit, Statement.Status.DRAFT, "submitted"),
    APPROVE: (settlement.statement_approve, Statement.Status.IN_REVIEW, "approved"),
}
REFUSED = "refused"
# More than this in one request would hold a web worker for minutes; the rest wait for
# the next request (the default selection picks up exactly what is left).
MAX_STATEMENTS = 1000


@dataclass(frozen=True)
class StatementOutcome:
    statement_id: int
    contract_id: int | None
    partner: str | None
    outcome: str  # "submitted", "approved" or "refused"
    status: str | None  # the statement's status after the attempt (None: no such statement)
    error: dict[str, Any] | None = None  # {"code", "message", "fields"} when refused


@dataclass
class BatchResult:
    run: SettlementRun
    action: str
    outcomes: list[StatementOutcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        done = ACTIONS[self.action][2]
        return {
            done: sum(o.outcome == done for o in self.outcomes),
            REFUSED: sum(o.outcome == REFUSED for o in self.outcomes),
        }


def _run_ready(run: SettlementRun) -> None:
    if run.status != SettlementRun.Status.DONE:
        raise InvalidTransition(
            f"Settlement run #{run.pk} is {run.status}; its statements can be submitted or approved once it is "
            "done." + (" Run the period again." if run.status == SettlementRun.Status.FAILED else "")
        )


def run_statements(*, run: SettlementRun) -> Any:
    """The statements a run computed: every contract's statement of the run's period."""
    return (
        Statement.objects.filter(period=run.period)
        .select_related("contract__placement__partner")
        .order_by("contract_id", "pk")
    )


def statements_batch_decide(
    *,
    actor: User,
    run: SettlementRun,
    action: str,
    statement_ids: Iterable[int] | None = None,
) -> BatchResult:
    """Submit (drafts → in review) or approve (in review → approved) the statements of `run`.

    With no `statement_ids`, every statement of the run in the status the action moves
    from; with ids, exactly those (an id that is not a statement of this run is refused as
    not found, one in another status is refused by the single service)."""
    if action not in ACTIONS:
        raise InvalidTransition(_("No batch action %(action)r; use submit or approve.") % {"action": action})
    finance_require(actor, doing="submit or approve statements")
    run = SettlementRun.objects.get(pk=run.pk)
    _run_ready(run)
    service, from_status, done = ACTIONS[action]
    statements = run_statements(run=run)
    result = BatchResult(run=run, action=action)
    if statement_ids is None:
        targets = list(statements.filter(status=from_status)[:MAX_STATEMENTS])
        missing: list[int] = []
    else:
        wanted = list(dict.fromkeys(statement_ids))
        if len(wanted) > MAX_STATEMENTS:
            raise ValidationFailed(
                _("At most %(max_statements)s statements a request.") % {"max_statements": MAX_STATEMENTS},
                fields={"statements": [f"at most {MAX_STATEMENTS} ids."]},
            )
        found = {s.pk: s for s in statements.filter(pk__in=wanted)}
        targets = [found[pk] for pk in wanted if pk in found]
        missing = [pk for pk in wanted if pk not in found]
    for pk in missing:
        result.outcomes.append(
            StatementOutcome(
                statement_id=pk,
                contract_id=None,
                partner=None,
                outcome=REFUSED,
                status=None,
                error={
                    "code": "not_found",
                    "message": f"Statement {pk} is not one of run #{run.pk} ({run.period:%Y-%m}).",
                    "fields": {},
                },
            )
        )
    for statement in targets:
        partner = statement.contract.placement.partner.slug
        try:
            updated = service(actor=actor, statement=statement)
        except ApplicationError as error:
            refusal = error.as_dict()["error"]
        except (OperationalError, InterfaceError):
            # A deadlock or a lost connection under this one statement: its own transaction
            # rolled back, the ones before it stand, so say so for it alone.
            refusal = {
                "code": str(ErrorCode.SERVICE_UNAVAILABLE),
                "fields": {},
                "message": "The database was unavailable for this statement; it did not change. Ask again for it.",
            }
        else:
            result.outcomes.append(
                StatementOutcome(
                    statement_id=statement.pk,
                    contract_id=statement.contract_id,
                    partner=partner,
                    outcome=done,
                    status=updated.status,
                )
            )
            continue
        current = Statement.objects.filter(pk=statement.pk).values_list("status", flat=True).first()
        result.outcomes.append(
            StatementOutcome(
                statement_id=statement.pk,
                contract_id=statement.contract_id,
                partner=partner,
                outcome=REFUSED,
                status=current,
                error=refusal,
            )
        )
    _audit_batch(actor=actor, result=result)
    return result


@transaction.atomic
def _audit_batch(*, actor: User, result: BatchResult) -> None:
    run, counts = result.run, result.counts
    done = ACTIONS[result.action][2]
    audit_record(
        actor=actor,
        action=f"settlement_run.batch_{result.action}",
        target=run,
        summary=(
            f"{result.action.title()} the statements of {run.period:%Y-%m} (run #{run.pk}): "
            f"{counts[done]} {done}, {counts[REFUSED]} refused"
        ),
        changes={
            "counts": counts,
            "statements": {
                str(o.statement_id): o.outcome if o.error is None else f"{o.outcome}: {o.error['code']}"
                for o in result.outcomes
            },
        },
    )
