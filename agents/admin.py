"""Read-mostly admin for staff: what employees said, knew and cost."""

from django.contrib import admin

from agents.models import (
    AgentRun,
    CatalogItem,
    Conversation,
    CopyDraft,
    CouponOffer,
    KnowledgeDocument,
    Message,
    Widget,
)


class MessageInline(admin.TabularInline):
    model = Message
    fk_name = "conversation"
    fields = ("role", "content", "status", "intent", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("public_id", "placement", "skill", "channel", "status", "created_at")
    list_filter = ("skill", "channel", "status")
    search_fields = ("public_id",)
    readonly_fields = ("public_id", "placement", "skill", "channel", "started_by", "visitor_token_digest", "created_at")
    inlines = [MessageInline]


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "placement",
        "skill",
        "step",
        "tier",
        "model",
        "tokens_in",
        "tokens_out",
        "cost",
        "latency_ms",
        "status",
    )
    list_filter = ("status", "tier", "model", "skill")
    readonly_fields = [field.name for field in AgentRun._meta.fields]


admin.site.register(CatalogItem, list_display=("placement", "sku", "name", "price", "currency"), search_fields=("sku",))
admin.site.register(KnowledgeDocument, list_display=("placement", "title", "filename", "created_at"))
admin.site.register(CouponOffer, list_display=("placement", "title", "percent_off", "code_prefix", "active"))
admin.site.register(Widget, list_display=("placement", "publishable_key", "allowed_origins"))
admin.site.register(CopyDraft, list_display=("placement", "status", "created_at", "reviewed_by"))
