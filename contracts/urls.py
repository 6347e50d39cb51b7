from django.urls import path

from contracts import views

urlpatterns = [
    path("portal/", views.portal_home, name="portal"),
    path("portal/placements/<int:placement_id>/", views.portal_placement, name="portal-placement"),
    path("console/", views.console_home, name="console"),
    path("console/placements/<int:placement_id>/", views.console_placement, name="console-placement"),
]
