"""Inquiries: a partner questions a statement in review before money moves (issue 15).

- A partner member (or the partner's system, with its API key) opens an inquiry on one of a
  statement's revenue lines (every sale or refund behind it) or on one sale or refund it
  counts, with a reason, a comment and an optional attachment, within the review window of
  the contract version the statement was rated under (terms "review.window_days", 7 days
  after it was sent to review when absent).
- While an inquiry is open the statement cannot be approved (settlement.statement_approve).
- Finance accepts it — the sales behind it are excluded from attribution, or given to
  another placement of the same partner, as stored `SaleExclusion` rows that attribution
  reads, so no later pass counts them back; the period is re-rated and the statement goes
  back to review with its new figures — or rejects it with a reason, changing nothing.
- The partner may withdraw an open inquiry; either side may comment on it.
Every step writes an AuditLog row on the inquiry, which both sides read as its history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import ContractVersion, Partner, Placement
from contracts.services import partner_member_require
from contracts.terms import review_window_days
from core.errors import ApplicationError, ErrorCode, InvalidTransition, PermissionDenied, ValidationFailed
from core.locks import Lock, advisory_key, lock_transaction_acquire
from core.models import User
from core.permissions import FINANCE_ROLES, finance_require, has_role
from core.services import audit_record
from revenue.models import Inquiry, InquiryComment, Sale, SaleExclusion, Statement, StatementLine
from revenue.services import settlement
from revenue.services.attribution import RESET_TO_PENDING_SQL, attribution_run
from webhooks.models import EventType
from webhooks.services import webhook_event_emit

# The lines with events behind them: what an inquiry on a line can take out.
INQUIRABLE_LINES = (
    StatementLine.Kind.ATTRIBUTED_SALES,
    StatementLine.Kind.LATE_SALES,
    StatementLine.Kind.REFUNDS,
    StatementLine.Kind.CLAWBACK,
)
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
# Extension → the bytes a file of that type starts with (None: text, checked as UTF-8).
ATTACHMENT_TYPES: dict[str, bytes | None] = {
    "pdf": b"%PDF-",
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff",
    "jpeg": b"\xff\xd8\xff",
    "csv": None,
    "txt": None,
}
MAX_COMMENT = 4000


class AttachmentTooLarge(ApplicationError):
    code = ErrorCode.ATTACHMENT_TOO_LARGE
    status = 413


def _figures(statement: Statement) -> dict[str, Any]:
    return {
        "net": statement.net,
        "share_precise": str(statement.share_precise),
        "wage": statement.wage,
        "total": statement.total,
        "payable": statement.payable,
        "fingerprint": statement.fingerprint,
    }


def _partner_side(actor: Any, partner: Partner, *, doing: str) -> tuple[User | None, str | None]:
    """(person, via) for an action of `partner`'s: one of its members, or its system's API key."""
    if isinstance(actor, User):
        partner_member_require(actor, partner, doing=doing)
        return actor, None
    if getattr(actor, "api_partner_id", None) == partner.pk:
        return None, str(actor.username)
    raise PermissionDenied(_("Only %(partner)s can %(doing)s.") % {"partner": partner.name, "doing": doing})


def _audit(
    person: User | None, via: str | None, action: str, inquiry: Inquiry, summary: str, changes: dict[str, Any]
) -> None:
    audit_record(
        actor=person,
        via=via,
        action=action,
        target=inquiry,
        summary=summary,
        partner_id=inquiry.partner_id,
        changes=changes,
    )


def _attachment_check(attachment: UploadedFile[bytes]) -> str:
    name = (attachment.name or "attachment").rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
    if attachment.size is not None and attachment.size > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            _("The attachment is over %(mb)d MB.") % {"mb": MAX_ATTACHMENT_BYTES // 1024 // 1024},
            fields={"attachment": [_("at most %(mb)d MB.") % {"mb": MAX_ATTACHMENT_BYTES // 1024 // 1024}]},
        )
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = ", ".join(sorted(ATTACHMENT_TYPES))
    if extension not in ATTACHMENT_TYPES:
        raise ValidationFailed(
            _("%(name)r is not a file type an inquiry takes (%(allowed)s).") % {"name": name, "allowed": allowed},
            fields={"attachment": [_("must be one of %(allowed)s.") % {"allowed": allowed}]},
            code=ErrorCode.ATTACHMENT_INVALID,
        )
    attachment.seek(0)
    head = attachment.read(MAX_ATTACHMENT_BYTES + 1)
    attachment.seek(0)
    if len(head) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            _("The attachment is over %(mb)d MB.") % {"mb": MAX_ATTACHMENT_BYTES // 1024 // 1024},
            fields={"attachment": [_("at most %(mb)d MB.") % {"mb": MAX_ATTACHMENT_BYTES // 1024 // 1024}]},
        )
    magic = ATTACHMENT_TYPES[extension]
    if magic is None:
        try:
            head.decode("utf-8")
            ok = b"\x00" not in head
        except UnicodeDecodeError:
            ok = False
    else:
        ok = head.startswith(magic)
    if not ok:
        raise ValidationFailed(
            _("%(name)r is not the %(type)s file its name says.") % {"name": name, "type": extension.upper()},
            fields={"attachment": [_("content does not match the .%(ext)s extension.") % {"ext": extension}]},
            code=ErrorCode.ATTACHMENT_INVALID,
        )
    return name


def _window_closes(statement: Statement) -> Any:
    version = ContractVersion.objects.filter(contract_id=statement.contract_id, number=statement.version_number).first()
    days = review_window_days(version.terms if version is not None else {})
    start = statement.submitted_at or statement.computed_at
    return start + timedelta(days=days)


def inquiry_window_closes(*, statement: Statement) -> Any:
    """When the partner can no longer question `statement` (None unless it is in review)."""
    if statement.status != Statement.Status.IN_REVIEW:
        return None
    return _window_closes(statement)


def _lock(statement: Statement) -> Statement:
    return (
        Statement.objects.select_for_update(of=("self",))
        .select_related("contract__placement__partner", "contract__placement__employee")
        .get(pk=statement.pk)
    )


@transaction.atomic
def inquiry_open(
    *,
    actor: Any,
    statement: Statement,
    reason: str,
    comment: str,
    line_kind: str = "",
    sale: Sale | None = None,
    attachment: UploadedFile[bytes] | None = None,
) -> Inquiry:
    statement = _lock(statement)
    partner = statement.contract.placement.partner
    person, via = _partner_side(actor, partner, doing=_("question its statements"))
    if statement.status != Statement.Status.IN_REVIEW:
        raise InvalidTransition(
            _("The statement is %(status)s; only a statement in review can be questioned.")
            % {"status": statement.get_status_display()},
            code=ErrorCode.STATEMENT_NOT_IN_REVIEW,
        )
    closes = _window_closes(statement)
    if timezone.now() > closes:
        raise InvalidTransition(
            _("The review window of this statement closed on %(when)s.") % {"when": f"{closes:%Y-%m-%d %H:%M} UTC"},
            code=ErrorCode.INQUIRY_WINDOW_CLOSED,
        )
    fields: dict[str, list[str]] = {}
    if reason not in Inquiry.Reason.values:
        fields["reason"] = [_("must be one of %(choices)s.") % {"choices": ", ".join(Inquiry.Reason.values)}]
    comment = (comment or "").strip()
    if not comment:
        fields["comment"] = [_("is required: say what is wrong.")]
    elif len(comment) > MAX_COMMENT:
        fields["comment"] = [_("at most %(n)d characters.") % {"n": MAX_COMMENT}]
    if bool(line_kind) == (sale is not None):
        fields["line"] = [_("name either one line of the statement or one sale or refund it counts.")]
    elif line_kind:
        if line_kind not in INQUIRABLE_LINES or not statement.lines.filter(kind=line_kind).exists():
            fields["line"] = [
                _("this statement has no such line with sales or refunds behind it (%(kinds)s).")
                % {"kinds": ", ".join(INQUIRABLE_LINES)}
            ]
    elif sale is not None and (
        sale.partner_id != partner.pk or not settlement.counted_sale_ids(statement=statement, sale_id=sale.pk)
    ):
        fields["sale"] = [_("this statement does not count that sale or refund.")]
    if fields:
        raise ValidationFailed(
            _("The inquiry cannot be opened: %(first)s") % {"first": next(iter(fields))}, fields=fields
        )
    duplicate = Inquiry.objects.filter(statement=statement, status=Inquiry.Status.OPEN)
    duplicate = duplicate.filter(sale=sale) if sale is not None else duplicate.filter(line_kind=line_kind, sale=None)
    if duplicate.exists():
        raise InvalidTransition(
            _("An inquiry about this is already open (#%(pk)s): comment on it instead.")
            % {"pk": duplicate.values_list("pk", flat=True).first()},
            code=ErrorCode.INQUIRY_DUPLICATE,
        )
    name = _attachment_check(attachment) if attachment is not None else ""
    inquiry = Inquiry(
        statement=statement,
        partner=partner,
        line_kind=line_kind,
        sale=sale,
        reason=reason,
        comment=comment,
        attachment_name=name,
        opened_by=person,
        opened_via=via or (person.username if person else ""),
    )
    if attachment is not None:
        inquiry.attachment.save(name, attachment, save=False)
    inquiry.save()
    subject = f"the {line_kind.replace('_', ' ')} line" if line_kind else f"{sale.type} {sale.external_id}"  # type: ignore[union-attr]
    _audit(
        person,
        via,
        "inquiry.opened",
        inquiry,
        f"Inquiry #{inquiry.pk} opened on {subject} of {statement}: {reason}",
        {"reason": reason, "line": line_kind, "sale": sale.external_id if sale else None, "comment": comment[:500]},
    )
    return inquiry


def _lock_inquiry(inquiry: Inquiry) -> Inquiry:
    return (
        Inquiry.objects.select_for_update(of=("self",))
        .select_related("statement__contract__placement__partner", "sale", "partner")
        .get(pk=inquiry.pk)
    )


def _require_open(inquiry: Inquiry) -> None:
    if inquiry.status != Inquiry.Status.OPEN:
        raise InvalidTransition(
            _("Inquiry #%(pk)s is %(status)s, no longer open.")
            % {"pk": inquiry.pk, "status": inquiry.get_status_display()},
            code=ErrorCode.INQUIRY_NOT_OPEN,
        )


@transaction.atomic
def inquiry_comment(*, actor: Any, inquiry: Inquiry, body: str) -> InquiryComment:
    inquiry = _lock_inquiry(inquiry)
    if has_role(actor, FINANCE_ROLES):
        person, via, side = actor, None, "platform"
    else:
        person, via = _partner_side(actor, inquiry.partner, doing=_("comment on its inquiries"))
        side = "partner"
    _require_open(inquiry)
    body = (body or "").strip()
    if not body or len(body) > MAX_COMMENT:
        raise ValidationFailed(
            _("A comment is between 1 and %(n)d characters.") % {"n": MAX_COMMENT},
            fields={"body": [_("is required, at most %(n)d characters.") % {"n": MAX_COMMENT}]},
        )
    comment = InquiryComment.objects.create(
        inquiry=inquiry,
        author=person,
        author_label=via or (person.username if person else ""),
        side=side,
        body=body,
    )
    _audit(person, via, "inquiry.commented", inquiry, f"Comment on inquiry #{inquiry.pk}", {"body": body[:500]})
    return comment


@transaction.atomic
def inquiry_withdraw(*, actor: Any, inquiry: Inquiry) -> Inquiry:
    inquiry = _lock_inquiry(inquiry)
    person, via = _partner_side(actor, inquiry.partner, doing=_("withdraw its inquiries"))
    _require_open(inquiry)
    inquiry.status = Inquiry.Status.WITHDRAWN
    inquiry.resolved_at = timezone.now()
    inquiry.save(update_fields=["status", "resolved_at"])
    _audit(
        person, via, "inquiry.withdrawn", inquiry, f"Inquiry #{inquiry.pk} withdrawn", {"status": ["open", "withdrawn"]}
    )
    return inquiry


def inquiry_on_settled_statement(*, actor: User, inquiry: Inquiry, statement: Statement) -> None:
    """The hook for accepting an inquiry about a statement already approved or invoiced:
    its figures never change, so the correction would be a credit note (the payments app's
    business, not built here). Until a credit-note service hangs here, it refuses."""
    raise InvalidTransition(
        _(
            "Statement #%(pk)s is %(status)s and never changes; correct it with a credit note or an "
            "adjustment of the next period, then reject this inquiry with that reason."
        )
        % {"pk": statement.pk, "status": statement.get_status_display()},
        code=ErrorCode.INVALID_TRANSITION,
    )


def _exclude(*, actor: User, inquiry: Inquiry, statement: Statement, reattribute_to: Placement | None) -> list[int]:
    """Store the exclusion (or re-attribution) of every event behind the inquiry, and return
    their ids. Set-based: one query for the ids, one insert, one reset, one attribution pass."""
    if inquiry.sale_id is not None:
        ids = [inquiry.sale_id]
    else:
        ids = settlement.counted_sale_ids(statement=statement, line=inquiry.line_kind)
    if reattribute_to is not None:
        partner = statement.contract.placement.partner_id
        if (
            reattribute_to.partner_id != partner
            or reattribute_to.pk == statement.contract.placement_id
            or not hasattr(reattribute_to, "contract")
        ):
            raise ValidationFailed(
                _("Re-attribute to another placement of the same partner."),
                fields={
                    "placement": [
                        _("must be another placement of %(p)s, with a contract.") % {"p": inquiry.partner.name}
                    ]
                },
            )
        if Sale.objects.filter(pk__in=ids, type=Sale.Type.REFUND).exists():
            raise ValidationFailed(
                _("A refund follows its sale: re-attribute the sale, or exclude the refund."),
                fields={"placement": [_("refunds cannot be re-attributed.")]},
            )
    now = timezone.now()
    SaleExclusion.objects.bulk_create(
        [
            SaleExclusion(
                sale_id=pk,
                partner_id=inquiry.partner_id,
                placement=reattribute_to,
                inquiry=inquiry,
                created_by=actor,
                created_at=now,
            )
            for pk in ids
        ],
        update_conflicts=True,
        unique_fields=["sale"],
        update_fields=["placement", "inquiry", "created_by", "created_at"],
    )
    # What the portal and the API say of each sale follows the decision at once. The
    # attribution pass's lock is taken before the reset, not after: the reset takes the
    # sales' months off the roll-up (row locks), and a pass holding its lock may be waiting
    # to add to those very rows.
    lock_transaction_acquire(advisory_key(Lock.ATTRIBUTION))
    with connection.cursor() as cursor:
        cursor.execute(
            RESET_TO_PENDING_SQL.format(
                condition="id = ANY(%(ids)s) AND type = 'sale' AND statement_id IS NULL", partitions=""
            ),
            {"ids": ids},
        )
        reset = [row[0] for row in cursor.fetchall()]
    if reset:
        attribution_run(sale_ids=reset)
    return ids


@transaction.atomic
def inquiry_resolve(
    *,
    actor: User,
    inquiry: Inquiry,
    decision: str,
    note: str = "",
    reattribute_to: Placement | None = None,
) -> Inquiry:
    """Finance's answer: "accept" (exclude or re-attribute, then re-rate) or "reject"."""
    finance_require(actor, doing=_("resolve inquiries"))
    inquiry = _lock_inquiry(inquiry)
    statement = _lock(inquiry.statement)
    _require_open(inquiry)
    note = (note or "").strip()
    if decision not in ("accept", "reject"):
        raise ValidationFailed(_("Decide accept or reject."), fields={"decision": [_("must be accept or reject.")]})
    if len(note) > 1000:
        raise ValidationFailed(_("The note is too long."), fields={"note": [_("at most 1000 characters.")]})
    if decision == "reject":
        if not note:
            raise ValidationFailed(
                _("Rejecting an inquiry needs a reason the partner reads."), fields={"note": [_("is required.")]}
            )
        if reattribute_to is not None:
            raise ValidationFailed(
                _("A rejected inquiry re-attributes nothing."), fields={"placement": [_("only when accepting.")]}
            )
        inquiry.status = Inquiry.Status.REJECTED
        inquiry.resolved_by, inquiry.resolved_at, inquiry.resolution_note = actor, timezone.now(), note
        inquiry.figures_before = inquiry.figures_after = _figures(statement)
        inquiry.save()
        _audit(
            actor,
            None,
            "inquiry.rejected",
            inquiry,
            f"Inquiry #{inquiry.pk} rejected: {note}",
            {"status": ["open", "rejected"], "note": note},
        )
        _resolved_emit(inquiry, statement)
        return inquiry

    if statement.status in settlement.SETTLED:
        inquiry_on_settled_statement(actor=actor, inquiry=inquiry, statement=statement)
    before = _figures(statement)
    was_in_review = statement.status == Statement.Status.IN_REVIEW
    ids = _exclude(actor=actor, inquiry=inquiry, statement=statement, reattribute_to=reattribute_to)
    # Re-rate the period: the same services as a settlement run, on the stored decision.
    recomputed = settlement.statement_compute(contract=statement.contract, period=statement.period)
    target_contract = getattr(reattribute_to, "contract", None) if reattribute_to is not None else None
    if (
        target_contract is not None
        and Statement.objects.filter(contract=target_contract, period=statement.period)
        .exclude(status__in=settlement.SETTLED)
        .exists()
    ):
        settlement.statement_compute(contract=target_contract, period=statement.period)
    if recomputed is not None and was_in_review:
        # New figures go back to review, for the partner and a second pair of eyes.
        recomputed = settlement.statement_submit(actor=actor, statement=recomputed)
    current = Statement.objects.get(pk=statement.pk) if recomputed is None else recomputed
    inquiry.status = Inquiry.Status.ACCEPTED
    inquiry.resolved_by, inquiry.resolved_at, inquiry.resolution_note = actor, timezone.now(), note
    inquiry.reattributed_to = reattribute_to
    inquiry.figures_before, inquiry.figures_after = before, _figures(current)
    inquiry.save()
    _audit(
        actor,
        None,
        "inquiry.accepted",
        inquiry,
        f"Inquiry #{inquiry.pk} accepted: {len(ids)} event(s) "
        + (f"re-attributed to placement {reattribute_to.pk}" if reattribute_to else "excluded")
        + f"; net {before['net']} → {current.net}, total {before['total']} → {current.total}",
        {
            "status": ["open", "accepted"],
            "events": len(ids),
            "reattributed_to": reattribute_to.pk if reattribute_to else None,
            "net": [before["net"], current.net],
            "total": [before["total"], current.total],
            "note": note,
        },
    )
    _resolved_emit(inquiry, current)
    return inquiry


def _resolved_emit(inquiry: Inquiry, statement: Statement) -> None:
    """inquiry.resolved, for the partner's systems: the answer and the figures it left."""
    assert inquiry.resolved_at is not None
    webhook_event_emit(
        partner=inquiry.partner,
        type=EventType.INQUIRY_RESOLVED,
        key=f"inquiry:{inquiry.pk}:resolved",
        payload={
            "inquiry": {
                "id": inquiry.pk,
                "statement": statement.pk,
                "period": f"{statement.period:%Y-%m}",
                "status": inquiry.status,
                "reason": inquiry.reason,
                "line": inquiry.line_kind or None,
                "sale": inquiry.sale.external_id if inquiry.sale is not None else None,
                "resolution_note": inquiry.resolution_note,
                "reattributed_to_placement": inquiry.reattributed_to_id,
                "resolved_at": inquiry.resolved_at,
                "figures_before": inquiry.figures_before,
                "figures_after": inquiry.figures_after,
            },
            "statement": {
                "id": statement.pk,
                "status": statement.status,
                "currency": statement.currency,
                "net": statement.net,
                "wage": statement.wage,
                "total": statement.total,
                "payable": statement.payable,
            },
        },
    )
