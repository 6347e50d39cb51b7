"""Staff views of the contract data. Life-cycle changes are made in the console (through
the services, so they are role-checked and audited); here placements and versions are
read-only."""

from django.contrib import admin

from contracts.models import (
    Contract,
    ContractVersion,
    Notification,
    Partner,
    PartnerApiKey,
    PartnerMembership,
    Payee,
    Placement,
    PlacementTransition,
)


class MembershipInline(admin.TabularInline):
    model = PartnerMembership
    extra = 0


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "industry", "currency", "timezone", "account_manager")
    list_filter = ("industry", "currency")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Payee)
class PayeeAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind")
    list_filter = ("kind",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TransitionInline(admin.TabularInline):
    model = PlacementTransition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor_label", "reason", "at")
    exclude = ("actor",)


@admin.register(Placement)
class PlacementAdmin(ReadOnlyAdmin):
    list_display = ("id", "partner", "employee", "status", "created_at")
    list_filter = ("status", "partner")
    inlines = [TransitionInline]


class VersionInline(admin.TabularInline):
    model = ContractVersion
    extra = 0
    can_delete = False
    readonly_fields = (
        "number",
        "status",
        "effective_from",
        "terms",
        "created_by",
        "decided_by",
        "decided_at",
        "decision_note",
    )


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("id", "placement", "currency", "created_at")
    inlines = [VersionInline]


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "partner", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_digest",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("recipient", "message", "created_at", "read_at")
