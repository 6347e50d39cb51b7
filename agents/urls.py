"""Web pages of the agents app: the portal's chat, knowledge, widget, review queue and
economics; transcripts and economics in the console."""

from django.urls import path, register_converter

from agents import api, views


class _KnowledgeAction:
    regex = "catalog|documents|offers"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class _TakeoverAction(_KnowledgeAction):
    regex = "reply|hand-back"


register_converter(_KnowledgeAction, "knowledge_action")
register_converter(_TakeoverAction, "takeover_action")

urlpatterns = [
    path("portal/agents/", views.portal_agents, name="portal-agents"),
    path("portal/agents/<int:placement_id>/chat/", views.portal_chat, name="portal-chat"),
    path("portal/agents/<int:placement_id>/knowledge/", views.portal_knowledge, name="portal-knowledge"),
    path(
        "portal/agents/<int:placement_id>/knowledge/<knowledge_action:action>/",
        views.portal_knowledge_action,
        name="portal-knowledge-action",
    ),
    path(
        "portal/agents/<int:placement_id>/knowledge/documents/<int:document_id>/delete/",
        views.portal_document_delete,
        name="portal-document-delete",
    ),
    path("portal/agents/<int:placement_id>/widget/", views.portal_widget, name="portal-widget"),
    path("portal/agents/<int:placement_id>/widget/rotate/", views.portal_widget_rotate, name="portal-widget-rotate"),
    path("portal/conversations/<int:conversation_id>/", views.portal_conversation, name="portal-conversation"),
    path(
        "portal/conversations/<int:conversation_id>/messages/",
        views.portal_conversation_post,
        name="portal-conversation-post",
    ),
    path(
        "portal/conversations/<int:conversation_id>/<takeover_action:action>/",
        views.portal_conversation_takeover,
        name="portal-conversation-takeover",
    ),
    path("agents/messages/<int:message_id>/reply/", views.message_reply, name="message-reply"),
    path("portal/review/", views.portal_review, name="portal-review"),
    path("portal/review/<int:draft_id>/", views.portal_review_decide, name="portal-review-decide"),
    path("agents/placements/<int:placement_id>/economics/", views.placement_economics, name="placement-economics"),
    path("console/employees/<slug:slug>/economics/", views.employee_economics, name="employee-economics"),
    path("console/conversations/", views.console_conversations, name="console-conversations"),
    path("console/conversations/<int:conversation_id>/", views.console_conversation, name="console-conversation"),
]

# Mounted under /api/v1/ by config.urls.
api_urlpatterns = [
    path("widget/config", api.WidgetConfigApi.as_view(), name="api-widget-config"),
    path("widget/conversations", api.WidgetConversationStartApi.as_view(), name="api-widget-conversations"),
    path("widget/conversations/<str:public_id>/messages", api.WidgetMessagesApi.as_view(), name="api-widget-messages"),
    path("conversations/<int:conversation_id>", api.ConversationDetailApi.as_view(), name="api-conversation"),
    path(
        "placements/<int:placement_id>/conversations",
        api.PlacementConversationsApi.as_view(),
        name="api-placement-conversations",
    ),
]
