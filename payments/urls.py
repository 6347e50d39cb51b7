"""Payment pages: finance's invoices, payouts, payees, reconciliation, trends and PDF
statements; the partner's invoices and PDF statements."""

from django.urls import URLPattern, path

from payments import api, views

urlpatterns: list[URLPattern] = [
    # payments: finance console — invoices, payout runs, payees, reconciliation, PDF statements
    path("console/invoices/", views.console_invoices, name="console-invoices"),
    path("console/invoices/export.csv", views.console_invoices_export, name="console-invoices-export"),
    path(
        "console/invoices/<int:invoice_id>/mark-paid/",
        views.console_invoice_mark_paid,
        name="console-invoice-mark-paid",
    ),
    path("console/invoices/<int:invoice_id>/issue/", views.console_invoice_issue, name="console-invoice-issue"),
    path(
        "console/invoices/<int:invoice_id>/credit-notes/",
        views.console_invoice_credit_note,
        name="console-invoice-credit-note",
    ),
    path("console/invoices/<int:invoice_id>.pdf", views.console_invoice_pdf, name="console-invoice-pdf"),
    path("console/partners/<int:partner_id>/tax/", views.console_partner_tax, name="console-partner-tax"),
    path(
        "console/statements/<int:statement_id>/invoice/",
        views.console_statement_invoice,
        name="console-statement-invoice",
    ),
    path("console/payouts/", views.console_payouts, name="console-payouts"),
    path("console/payouts/export.csv", views.console_payouts_export, name="console-payouts-export"),
    path("console/payouts/runs/<int:run_id>/", views.console_payout_run, name="console-payout-run"),
    path("console/payees/", views.console_payees, name="console-payees"),
    path("console/payees/<int:payee_id>/settings/", views.console_payee_settings, name="console-payee-settings"),
    path("console/payees/<int:payee_id>/onboard/", views.console_payee_onboard, name="console-payee-onboard"),
    path("console/reconciliation/", views.console_reconciliation, name="console-reconciliation"),
    path(
        "console/reconciliation/export.csv", views.console_reconciliation_export, name="console-reconciliation-export"
    ),
    path(
        "console/partners/<int:partner_id>/statements/<str:period>.pdf",
        views.console_statement_pdf,
        name="console-statement-pdf",
    ),
    # payments: partner portal
    path("portal/invoices/", views.portal_invoices, name="portal-invoices"),
    path("portal/invoices/<int:invoice_id>.pdf", views.portal_invoice_pdf, name="portal-invoice-pdf"),
    path("portal/tax/", views.portal_tax, name="portal-tax"),
    path("portal/statements/<str:period>.pdf", views.portal_statement_pdf, name="portal-statement-pdf"),
    path("console/trends/", views.console_trends, name="console-trends"),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns = [
    path("invoices", api.InvoiceListApi.as_view(), name="api-invoices"),
    path("invoices/<int:invoice_id>", api.InvoiceDetailApi.as_view(), name="api-invoice"),
    path("invoices/<int:invoice_id>/credit-notes", api.CreditNoteListApi.as_view(), name="api-invoice-credit-notes"),
    path("payout-runs", api.PayoutRunListApi.as_view(), name="api-payout-runs"),
    path("payout-runs/<int:run_id>", api.PayoutRunDetailApi.as_view(), name="api-payout-run"),
]
