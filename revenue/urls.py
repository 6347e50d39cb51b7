"""Web pages of the revenue engine: partner portal revenue, finance console, uploads."""

from django.urls import path

from revenue import views, views_payments, views_upload

urlpatterns: list = [
    # partner portal: revenue, statements, sales
    path("portal/revenue/", views.portal_revenue, name="portal-revenue"),
    path("portal/statements/<int:statement_id>/", views.portal_statement, name="portal-statement"),
    path("portal/sales/", views.portal_sales, name="portal-sales"),
    # finance console: settlement, statements, ledger, exports
    path("console/settlement/", views.console_settlement, name="console-settlement"),
    path("console/settlement/runs/<int:run_id>/", views.console_settlement_run, name="console-settlement-run"),
    path("console/settlement/runs/<int:run_id>/submit/", views.console_settlement_run_batch, {"action": "submit"},
         name="console-settlement-run-submit"),
    path("console/settlement/runs/<int:run_id>/approve/", views.console_settlement_run_batch, {"action": "approve"},
         name="console-settlement-run-approve"),
    path("console/statements/export.csv", views.console_statements_export, name="console-statements-export"),
    path("console/statements/<int:statement_id>/", views.console_statement, name="console-statement"),
    path("console/statements/<int:statement_id>/submit/", views.console_statement_submit,
         name="console-statement-submit"),
    path("console/statements/<int:statement_id>/approve/", views.console_statement_approve,
         name="console-statement-approve"),
    path("console/statements/<int:statement_id>/adjust/", views.console_statement_adjust,
         name="console-statement-adjust"),
    path("console/ledger/", views.console_ledger, name="console-ledger"),
    path("console/trends/", views.console_trends, name="console-trends"),
    path("console/ledger/export.csv", views.console_ledger_export, name="console-ledger-export"),
    # account managers: what two sets of terms would have paid on real history
    path("console/placements/<int:placement_id>/simulate/", views.console_simulate, name="console-simulate"),
    # payments: finance console — invoices, payout runs, payees, reconciliation, PDF statements
    path("console/invoices/", views_payments.console_invoices, name="console-invoices"),
    path("console/invoices/export.csv", views_payments.console_invoices_export, name="console-invoices-export"),
    path("console/invoices/<int:invoice_id>/mark-paid/", views_payments.console_invoice_mark_paid,
         name="console-invoice-mark-paid"),
    path("console/invoices/<int:invoice_id>/issue/", views_payments.console_invoice_issue,
         name="console-invoice-issue"),
    path("console/statements/<int:statement_id>/invoice/", views_payments.console_statement_invoice,
         name="console-statement-invoice"),
    path("console/payouts/", views_payments.console_payouts, name="console-payouts"),
    path("console/payouts/export.csv", views_payments.console_payouts_export, name="console-payouts-export"),
    path("console/payouts/runs/<int:run_id>/", views_payments.console_payout_run, name="console-payout-run"),
    path("console/payees/", views_payments.console_payees, name="console-payees"),
    path("console/payees/<int:payee_id>/settings/", views_payments.console_payee_settings,
         name="console-payee-settings"),
    path("console/payees/<int:payee_id>/onboard/", views_payments.console_payee_onboard,
         name="console-payee-onboard"),
    path("console/reconciliation/", views_payments.console_reconciliation, name="console-reconciliation"),
    path("console/reconciliation/export.csv", views_payments.console_reconciliation_export,
         name="console-reconciliation-export"),
    path("console/partners/<int:partner_id>/statements/<str:period>.pdf", views_payments.console_statement_pdf,
         name="console-statement-pdf"),
    # payments: partner portal
    path("portal/invoices/", views_payments.portal_invoices, name="portal-invoices"),
    path("portal/statements/<str:period>.pdf", views_payments.portal_statement_pdf, name="portal-statement-pdf"),
    # partner portal: CSV uploads of sales and refunds
    path("portal/uploads/", views_upload.portal_uploads, name="portal-uploads"),
    path("portal/uploads/<int:upload_id>/row/", views_upload.portal_upload_row, name="portal-upload-row"),
    path("portal/uploads/<int:upload_id>/rejections.csv", views_upload.portal_upload_rejections,
         name="portal-upload-rejections"),
]
