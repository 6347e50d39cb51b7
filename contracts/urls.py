from django.urls import path, register_converter

from contracts import api, views


def _one_of(*choices: str) -> type:
    """A path converter matching exactly these words, so an unknown action is a plain 404
    before any view runs."""
    return type(
        "OneOf",
        (),
        {
            "regex": "|".join(choices),
            "to_python": staticmethod(str),
            "to_url": staticmethod(str),
        },
    )


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
    path(
        "portal/placements/<int:placement_id>/<portal_placement_action:action>/",
        views.portal_placement_action,
        name="portal-placement-action",
    ),
    path(
        "portal/placements/<int:placement_id>/versions/<int:number>/<portal_version_action:action>/",
        views.portal_version_action,
        name="portal-version-action",
    ),
    path("portal/api-keys/", views.portal_api_keys, name="portal-api-keys"),
    path("portal/api-keys/<int:key_id>/revoke/", views.portal_api_key_revoke, name="portal-api-key-revoke"),
    path("portal/members/", views.portal_members, name="portal-members"),
    # manager console
    path("console/", views.console_home, name="console"),
    path("console/audit/", views.console_audit, name="console-audit"),
    path("console/partners/", views.console_partners, name="console-partners"),
    path("console/partners/<int:partner_id>/", views.console_partner, name="console-partner"),
    path("console/placements/<int:placement_id>/", views.console_placement, name="console-placement"),
    path(
        "console/placements/<int:placement_id>/<console_placement_action:action>/",
        views.console_placement_action,
        name="console-placement-action",
    ),
    path("console/placements/<int:placement_id>/terms/", views.console_terms_draft, name="console-terms-draft"),
    path("console/placements/<int:placement_id>/terms/check/", views.console_terms_check, name="console-terms-check"),
    path(
        "console/placements/<int:placement_id>/versions/<int:number>/edit/",
        views.console_version_update,
        name="console-version-update",
    ),
    path(
        "console/placements/<int:placement_id>/versions/<int:number>/<console_version_action:action>/",
        views.console_version_action,
        name="console-version-action",
    ),
    # invitations: the e-mailed link (public: the token is the credential) and withdrawing one
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    # notifications
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_mark_read, name="notifications-read"),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns = [
    path("me", api.MeApi.as_view(), name="api-me"),
    path("placements", api.PlacementListApi.as_view(), name="api-placements"),
    path("placements/<int:placement_id>", api.PlacementDetailApi.as_view(), name="api-placement"),
    path("placements/<int:placement_id>/<slug:action>", api.PlacementActionApi.as_view(), name="api-placement-action"),
    path("contracts", api.ContractListApi.as_view(), name="api-contracts"),
    path("contracts/<int:contract_id>", api.ContractDetailApi.as_view(), name="api-contract"),
    path("contracts/<int:contract_id>/versions", api.ContractVersionListApi.as_view(), name="api-contract-versions"),
    path(
        "contracts/<int:contract_id>/versions/<int:number>",
        api.ContractVersionDetailApi.as_view(),
        name="api-contract-version",
    ),
    path(
        "contracts/<int:contract_id>/versions/<int:number>/<slug:action>",
        api.ContractVersionActionApi.as_view(),
        name="api-contract-version-action",
    ),
    path("partners", api.PartnerListApi.as_view(), name="api-partners"),
    path("partners/<int:partner_id>", api.PartnerDetailApi.as_view(), name="api-partner"),
    path(
        "partners/<int:partner_id>/invitations", api.PartnerInvitationListApi.as_view(), name="api-partner-invitations"
    ),
    path("invitations/accept", api.InvitationAcceptApi.as_view(), name="api-invitation-accept"),
    path("invitations/<int:invitation_id>/revoke", api.InvitationRevokeApi.as_view(), name="api-invitation-revoke"),
    path("payees", api.PayeeListApi.as_view(), name="api-payees"),
    path("api-keys", api.ApiKeyListApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/revoke", api.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
]
