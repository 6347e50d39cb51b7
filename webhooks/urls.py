from django.urls import path, register_converter

from webhooks import api, views


class EndpointAction:
    """rotate | disable | enable: an unknown action is a plain 404 before any view runs."""

    regex = "rotate|disable|enable"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EndpointAction, "webhook_endpoint_action")

urlpatterns = [
    # A stand-in receiver for the run command's demo endpoints (a 404 unless DEBUG).
    path("dev/webhook-receiver/", views.dev_webhook_receiver, name="dev-webhook-receiver"),
    path("portal/webhooks/", views.portal_webhooks, name="portal-webhooks"),
    path(
        "portal/webhooks/<int:endpoint_id>/<webhook_endpoint_action:action>/",
        views.portal_webhook_endpoint_action,
        name="portal-webhook-endpoint-action",
    ),
    path(
        "portal/webhooks/deliveries/<int:delivery_id>/replay/",
        views.portal_webhook_delivery_replay,
        name="portal-webhook-delivery-replay",
    ),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns = [
    path("webhook-endpoints", api.WebhookEndpointListApi.as_view(), name="api-webhook-endpoints"),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret",
        api.WebhookEndpointRotateApi.as_view(),
        name="api-webhook-endpoint-rotate",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/disable",
        api.WebhookEndpointDisableApi.as_view(),
        name="api-webhook-endpoint-disable",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/enable",
        api.WebhookEndpointEnableApi.as_view(),
        name="api-webhook-endpoint-enable",
    ),
    path("webhook-deliveries", api.WebhookDeliveryListApi.as_view(), name="api-webhook-deliveries"),
    path(
        "webhook-deliveries/<int:delivery_id>/replay",
        api.WebhookDeliveryReplayApi.as_view(),
        name="api-webhook-delivery-replay",
    ),
]
