from django.urls import path

from employees import views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("<slug:slug>/", views.resume, name="resume"),
]
