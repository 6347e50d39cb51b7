"""The ledger's pages in the finance console."""

from django.urls import URLPattern, path

from ledger import api, views

urlpatterns: list[URLPattern] = [
    path("console/ledger/", views.console_ledger, name="console-ledger"),
    path("console/ledger/export.csv", views.console_ledger_export, name="console-ledger-export"),
    path(
        "console/ledger/accounts/<str:code>/<str:currency>/",
        views.console_account_statement,
        name="console-account-statement",
    ),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns: list[URLPattern] = [
    path(
        "ledger/accounts/<str:code>/<str:currency>/statement",
        api.AccountStatementApi.as_view(),
        name="api-account-statement",
    ),
]
