"""The PDF statement of one partner and period: each settled statement with its lines,
splits and invoice status. fpdf2 (pure Python, no system libraries) with its built-in
Helvetica, so text is Latin-1: other characters are replaced, figures never are."""

from __future__ import annotations

from datetime import date

from fpdf import FPDF

from contracts.models import Partner
from core.currencies import format_money
from payments.models import CreditNote, Invoice
from payments.tax import rate_percent
from revenue.models import Statement


def _text(value: object) -> str:
    return (
        str(value).replace("—", "-").replace("–", "-").replace("×", "x").encode("latin-1", "replace").decode("latin-1")
    )


def statements_pdf(
    *, partner: Partner, period: date, statements: list[Statement], invoices: dict[int, Invoice]
) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Statement {partner.name} {period:%Y-%m}"))
    pdf.set_author("Haken")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(f"Statement - {partner.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _text(f"Period {period:%Y-%m} · currency {partner.currency}"), new_x="LMARGIN", new_y="NEXT")
    grand = 0
    for statement in statements:
        money = lambda amount, s=statement: format_money(amount, s.currency)  # noqa: E731
        placement = statement.contract.placement
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 12)
        heading = f"{placement.employee.name} - statement #{statement.pk} ({statement.get_status_display()})"
        pdf.cell(0, 8, _text(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        with pdf.table(col_widths=(90, 25, 35, 35), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
            table.row(["Line", "Quantity", "Revenue", "Amount"])
            for line in statement.lines.all():
                table.row(
                    [
                        _text(line.description),
                        "" if line.quantity is None else f"{line.quantity:,}",
                        "" if line.revenue is None else _text(money(line.revenue)),
                        _text(money(line.amount)),
                    ]
                )
            table.row(["Payable", "", "", _text(money(statement.payable))])
            if statement.credit_carried_forward:
                table.row(["Credit carried forward", "", "", _text(money(statement.credit_carried_forward))])
        splits = [split for split in statement.splits.all() if split.amount]
        if splits:
            pdf.ln(2)
            pdf.cell(
                0,
                6,
                _text("Split: " + "; ".join(f"{s.payee.name} {money(s.amount)}" for s in splits)),
                new_x="LMARGIN",
                new_y="NEXT",
            )
        invoice = invoices.get(statement.pk)
        if invoice and invoice.tax_breakdown:
            for line in invoice.tax_breakdown:
                pdf.cell(
                    0,
                    6,
                    _text(
                        f"Tax {_tax_label(line)} on {money(line['taxable'])}: {money(line['tax'])} "
                        f"- invoice total {money(invoice.amount)}"
                    ),
                    new_x="LMARGIN",
                    new_y="NEXT",
                )
        pdf.cell(
            0,
            6,
            _text(
                f"Invoice: {invoice.number or invoice.pk} - {invoice.get_status_display()}"
                if invoice
                else "Invoice: not yet issued"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        grand += statement.payable
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(
        0,
        8,
        _text(f"Total payable for {period:%Y-%m}: {format_money(grand, partner.currency)}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def _tax_label(line: dict) -> str:
    if line["category"] == "reverse_charge":
        return f"{line['jurisdiction']} reverse charge (0%)"
    return f"{line['jurisdiction']} {rate_percent(line['rate'])}% ({line['category']})"


def invoice_pdf(*, invoice: Invoice, platform_name: str) -> bytes:
    """One invoice as a qualified invoice (適格請求書): the issuer and its registration
    number, the buyer, the date of the supply (tax point), each line with its tax rate,
    the taxable amount and the tax per rate (rounded once per rate), the totals; then the
    credit notes issued against it, each with its tax reduction per rate."""
    statement = invoice.statement
    currency = invoice.currency
    money = lambda amount: _text(format_money(amount, currency))  # noqa: E731
    breakdown = invoice.tax_breakdown or []
    rate_label = "; ".join(_tax_label(line) for line in breakdown) or "no tax (outside the scope)"
    clawback_notes = ", ".join(
        f"{note.number} (invoice {note.invoice.number})"
        for note in CreditNote.objects.filter(source=f"clawback:statement:{statement.pk}", status="issued")
        .select_related("invoice")
        .order_by("id")
    )
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Invoice {invoice.number or invoice.pk}"))
    pdf.set_author("Haken")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(f"Invoice {invoice.number or invoice.pk}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for text in (
        f"Issuer: {platform_name}",
        f"Issuer registration number: {invoice.seller_registration_number or '-'}",
        f"Billed to: {invoice.partner.name}"
        + (f" (registration number {invoice.buyer_registration_number})" if invoice.buyer_registration_number else ""),
        f"Period: {statement.period:%Y-%m} - date of supply (tax point): {invoice.tax_point or '-'}",
        f"Issued: {invoice.issued_at:%Y-%m-%d}" if invoice.issued_at else "Issued: being issued",
    ):
        pdf.cell(0, 6, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 9)
    with pdf.table(col_widths=(100, 45, 40), text_align=("LEFT", "LEFT", "RIGHT")) as table:
        table.row(["Line", "Tax rate", "Amount"])
        for line in statement.lines.all():
            if line.amount:
                table.row([_text(line.description), _text(rate_label), money(line.amount)])
        if invoice.clawback_credited:
            table.row(
                [
                    _text(f"Clawback given back by credit notes {clawback_notes or '(being issued)'}"),
                    _text(rate_label),
                    money(invoice.clawback_credited),
                ]
            )
        table.row(["Subtotal (before tax)", "", money(invoice.subtotal)])
        for line in breakdown:
            table.row([_text(f"Taxable at {_tax_label(line)}"), "", money(line["taxable"])])
            table.row([_text(f"Tax at {_tax_label(line)}"), "", money(line["tax"])])
        table.row(["Total tax", "", money(invoice.tax_amount)])
        table.row(["Total (tax included)", "", money(invoice.amount)])
        if invoice.amount_due != invoice.amount:
            table.row(["Amount due after credit notes", "", money(invoice.amount_due)])
    if invoice.tax_note:
        pdf.ln(2)
        pdf.multi_cell(0, 5, _text(invoice.tax_note), new_x="LMARGIN", new_y="NEXT")
    notes = [note for note in invoice.credit_notes.all() if note.status == "issued"]
    if notes:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, "Credit notes", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        with pdf.table(col_widths=(100, 45, 40), text_align=("LEFT", "LEFT", "RIGHT")) as table:
            table.row(["Credit note", "Tax rate", "Amount"])
            for note in notes:
                table.row([_text(f"{note.number} ({note.issued_at:%Y-%m-%d}): {note.reason}"), "", ""])
                table.row(["Reduction (before tax)", "", money(note.subtotal)])
                for line in note.tax_breakdown:
                    table.row([_text(f"Tax reduction at {_tax_label(line)}"), "", money(line["tax"])])
                table.row(["Credit note total", "", money(note.amount)])
    return bytes(pdf.output())
