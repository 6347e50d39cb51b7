"""Web pages of the revenue engine: partner portal revenue, finance console, uploads."""

from django.urls import URLPattern, path

from revenue import api, views

urlpatterns: list[URLPattern] = [
    # partner portal: revenue, statements, sales
    path("portal/revenue/", views.portal_revenue, name="portal-revenue"),
    path("portal/statements/<int:statement_id>/", views.portal_statement, name="portal-statement"),
    path("portal/sales/", views.portal_sales, name="portal-sales"),
    # partner portal and finance console: inquiries on statements in review, the evidence export
    path("portal/statements/<int:statement_id>/inquiries/", views.portal_inquiry_open, name="portal-inquiry-open"),
    path(
        "portal/statements/<int:statement_id>/evidence.csv",
        views.portal_statement_evidence,
        {"fmt": "csv"},
        name="portal-statement-evidence-csv",
    ),
    path(
        "portal/statements/<int:statement_id>/evidence.json",
        views.portal_statement_evidence,
        {"fmt": "json"},
        name="portal-statement-evidence-json",
    ),
    path("portal/inquiries/<int:inquiry_id>/comment/", views.portal_inquiry_comment, name="portal-inquiry-comment"),
    path("portal/inquiries/<int:inquiry_id>/withdraw/", views.portal_inquiry_withdraw, name="portal-inquiry-withdraw"),
    path(
        "portal/inquiries/<int:inquiry_id>/attachment/",
        views.portal_inquiry_attachment,
        name="portal-inquiry-attachment",
    ),
    path(
        "console/statements/<int:statement_id>/evidence.csv",
        views.console_statement_evidence,
        {"fmt": "csv"},
        name="console-statement-evidence-csv",
    ),
    path(
        "console/statements/<int:statement_id>/evidence.json",
        views.console_statement_evidence,
        {"fmt": "json"},
        name="console-statement-evidence-json",
    ),
    path("console/inquiries/<int:inquiry_id>/resolve/", views.console_inquiry_resolve, name="console-inquiry-resolve"),
    path("console/inquiries/<int:inquiry_id>/comment/", views.console_inquiry_comment, name="console-inquiry-comment"),
    path(
        "console/inquiries/<int:inquiry_id>/attachment/",
        views.console_inquiry_attachment,
        name="console-inquiry-attachment",
    ),
    # finance console: settlement, statements, exports
    path("console/settlement/", views.console_settlement, name="console-settlement"),
    path("console/settlement/runs/<int:run_id>/", views.console_settlement_run, name="console-settlement-run"),
    path(
        "console/settlement/runs/<int:run_id>/submit/",
        views.console_settlement_run_batch,
        {"action": "submit"},
        name="console-settlement-run-submit",
    ),
    path(
        "console/settlement/runs/<int:run_id>/approve/",
        views.console_settlement_run_batch,
        {"action": "approve"},
        name="console-settlement-run-approve",
    ),
    path("console/statements/export.csv", views.console_statements_export, name="console-statements-export"),
    path("console/statements/<int:statement_id>/", views.console_statement, name="console-statement"),
    path(
        "console/statements/<int:statement_id>/submit/", views.console_statement_submit, name="console-statement-submit"
    ),
    path(
        "console/statements/<int:statement_id>/approve/",
        views.console_statement_approve,
        name="console-statement-approve",
    ),
    path(
        "console/statements/<int:statement_id>/adjust/", views.console_statement_adjust, name="console-statement-adjust"
    ),
    # account managers: what two sets of terms would have paid on real history
    path("console/placements/<int:placement_id>/simulate/", views.console_simulate, name="console-simulate"),
    # partner portal: CSV uploads of sales and refunds
    path("portal/uploads/", views.portal_uploads, name="portal-uploads"),
    path("portal/uploads/<int:upload_id>/row/", views.portal_upload_row, name="portal-upload-row"),
    path(
        "portal/uploads/<int:upload_id>/rejections.csv", views.portal_upload_rejections, name="portal-upload-rejections"
    ),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns = [
    path("statements", api.StatementListApi.as_view(), name="api-statements"),
    path("statements/<int:statement_id>", api.StatementDetailApi.as_view(), name="api-statement"),
    path(
        "statements/<int:statement_id>/inquiries", api.StatementInquiriesApi.as_view(), name="api-statement-inquiries"
    ),
    path(
        "statements/<int:statement_id>/evidence.csv",
        api.StatementEvidenceApi.as_view(fmt="csv"),
        name="api-statement-evidence-csv",
    ),
    path(
        "statements/<int:statement_id>/evidence.json",
        api.StatementEvidenceApi.as_view(fmt="json"),
        name="api-statement-evidence-json",
    ),
    path("statements/<int:statement_id>/<slug:action>", api.StatementActionApi.as_view(), name="api-statement-action"),
    path("inquiries/<int:inquiry_id>", api.InquiryDetailApi.as_view(), name="api-inquiry"),
    path("inquiries/<int:inquiry_id>/resolve", api.InquiryResolveApi.as_view(), name="api-inquiry-resolve"),
    path("inquiries/<int:inquiry_id>/comments", api.InquiryCommentApi.as_view(), name="api-inquiry-comments"),
    path("inquiries/<int:inquiry_id>/withdraw", api.InquiryWithdrawApi.as_view(), name="api-inquiry-withdraw"),
    path("settlement-runs", api.SettlementRunListApi.as_view(), name="api-settlement-runs"),
    path("settlement-runs/<int:run_id>", api.SettlementRunDetailApi.as_view(), name="api-settlement-run"),
    path(
        "settlement-runs/<int:run_id>/submit",
        api.SettlementRunBatchApi.as_view(action="submit"),
        name="api-settlement-run-submit",
    ),
    path(
        "settlement-runs/<int:run_id>/approve",
        api.SettlementRunBatchApi.as_view(action="approve"),
        name="api-settlement-run-approve",
    ),
    path("sales/<str:external_id>/attribution", api.SaleAttributionApi.as_view(), name="api-sale-attribution"),
    path("sales", api.SalesIngestApi.as_view(), name="api-sales"),
    path("touchpoints", api.TouchpointsIngestApi.as_view(), name="api-touchpoints"),
    path("outcomes", api.OutcomesIngestApi.as_view(), name="api-outcomes"),
]
