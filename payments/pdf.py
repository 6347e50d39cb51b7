"""The PDF statement of one partner and period: each settled statement with its lines,
splits and invoice status. fpdf2 (pure Python, no system libraries) with its built-in
Helvetica, so text is Latin-1: other characters are replaced, figures never are."""

from __future__ import annotations

from datetime import date

from fpdf import FPDF

from contracts.models import Partner
from core.currencies import format_money
from payments.models import Invoice
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
