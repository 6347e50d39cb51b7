from django.urls import path, register_converter

from contracts import views


def _one_of(*choices: str) -> type:
    """A path converter matching exactly these words, so an unknown action is a plain 404
    before any view runs."""
    return type("OneOf", (), {
        "regex": "|".join(choices), "to_python": staticmethod(str), "to_url": staticmethod(str),
    })


register_converter(_one_of("withdraw", "end"), "portal_placement_action")
register_converter(_one_of("accept", "reject"), "portal_version_action")
register_converter(_one_of("approve", "decline", "pause", "resume", "end"), "console_placement_action")
register_converter(_one_of("propose", "withdraw"), "console_version_action")

# Each action is a POST-only URL of its own, so it can be named, tested and refused alone.
urlpatterns = [
    # partner portal
    path("portal/", views.portal_home, name="portal"),
    path("portal/hire/<slug:slug>/", views.portal_hire, name="portal-hire"),
    path("portal/placements/<int:placement_id>/", views.portal_placement, name="portal-placement"),
    path("portal/placements/<int:placement_id>/<portal_placement_action:action>/",
         views.portal_placement_action, name="portal-placement-action"),
    path("portal/placements/<int:placement_id>/versions/<int:number>/<portal_version_action:action>/",
         views.portal_version_action, name="portal-version-action"),
    path("portal/api-keys/", views.portal_api_keys, name="portal-api-keys"),
    path("portal/api-keys/<int:key_id>/revoke/", views.portal_api_key_revoke, name="portal-api-key-revoke"),
    path("portal/members/", views.portal_members, name="portal-members"),
    # manager console
    path("console/", views.console_home, name="console"),
    path("console/audit/", views.console_audit, name="console-audit"),
    path("console/partners/", views.console_partners, name="console-partners"),
    path("console/partners/<int:partner_id>/", views.console_partner, name="console-partner"),
    path("console/placements/<int:placement_id>/", views.console_placement, name="console-placement"),
    path("console/placements/<int:placement_id>/<console_placement_action:action>/",
         views.console_placement_action, name="console-placement-action"),
    path("console/placements/<int:placement_id>/terms/", views.console_terms_draft,
         name="console-terms-draft"),
    path("console/placements/<int:placement_id>/terms/check/", views.console_terms_check,
         name="console-terms-check"),
    path("console/placements/<int:placement_id>/versions/<int:number>/edit/", views.console_version_update,
         name="console-version-update"),
    path("console/placements/<int:placement_id>/versions/<int:number>/<console_version_action:action>/",
         views.console_version_action, name="console-version-action"),
    # invitations: the e-mailed link (public: the token is the credential) and withdrawing one
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    # notifications
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_mark_read, name="notifications-read"),
]
