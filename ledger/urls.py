"""The ledger's pages in the finance console."""

from django.urls import URLPattern, path

from ledger import views

urlpatterns: list[URLPattern] = [
    path("console/ledger/", views.console_ledger, name="console-ledger"),
    path("console/ledger/export.csv", views.console_ledger_export, name="console-ledger-export"),
]
