from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from core.errors import ApplicationError
from core.models import AuditLog, LoginThrottle, User
from core.services import login_throttle_unlock


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


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    list_display = ("scope", "key", "failures", "first_failure_at", "locked_until")
    list_filter = ("scope",)
    search_fields = ("key",)
    readonly_fields = ("scope", "key", "failures", "first_failure_at", "locked_until", "updated_at")
    actions = ["unlock"]

    # Changed only through the lockout services, so every unlock is audited.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Lift the lock / clear the count (audited)")
    def unlock(self, request, queryset):
        for throttle in queryset:
            try:
                login_throttle_unlock(actor=request.user, throttle=throttle)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.WARNING)
