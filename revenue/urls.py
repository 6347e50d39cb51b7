"""Web pages of the revenue engine: partner portal revenue, finance console, uploads."""

from django.urls import path

urlpatterns: list = [
]
