from django.urls import path

from employees import api, views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("<slug:slug>/", views.resume, name="resume"),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns = [
    path("employees", api.EmployeeListApi.as_view(), name="api-employees"),
    path("employees/<slug:slug>", api.EmployeeDetailApi.as_view(), name="api-employee"),
]
