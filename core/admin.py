from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.models import AuditLog, User


@admin.register(User)
class HakenUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Role", {"fields": ("role",)}))
    list_display = ("username", "email", "role", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_label", "action", "target_type", "target_id", "summary")
    list_filter = ("action",)
    search_fields = ("summary", "actor_label", "target_id")

    # Append-only in the database; the admin should not pretend otherwise.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
