from django.urls import path

from core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("language/", views.language_set, name="language-set"),
    path("favicon.ico", views.favicon, name="favicon"),
]
