from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import ApplicationError
from core.models import AuditLog, LoginThrottle, User
from core.services import login_throttle_unlock

if TYPE_CHECKING:
    # The stubs make the admin classes generic in their model; at run time Django's are not
    # subscriptable (django_stubs_ext.monkeypatch would patch that, a runtime dependency
    # for three base classes), so the checker alone sees the parameters.
    _UserAdmin = UserAdmin[User]
    _AuditLogAdmin = admin.ModelAdmin[AuditLog]
    _LoginThrottleAdmin = admin.ModelAdmin[LoginThrottle]
else:
    _UserAdmin = UserAdmin
    _AuditLogAdmin = _LoginThrottleAdmin = admin.ModelAdmin


@admin.register(User)
class HakenUserAdmin(_UserAdmin):
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Role", {"fields": ("role",)}))
    list_display = ("username", "email", "role", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")


@admin.register(AuditLog)
class AuditLogAdmin(_AuditLogAdmin):
    list_display = ("at", "actor_label", "action", "target_type", "target_id", "summary")
    list_filter = ("action",)
    search_fields = ("summary", "actor_label", "target_id")

    # Append-only in the database; the admin should not pretend otherwise.
    def has_change_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LoginThrottle)
class LoginThrottleAdmin(_LoginThrottleAdmin):
    list_display = ("scope", "key", "failures", "first_failure_at", "locked_until")
    list_filter = ("scope",)
    search_fields = ("key",)
    readonly_fields = ("scope", "key", "failures", "first_failure_at", "locked_until", "updated_at")
    actions = ["unlock"]

    # Changed only through the lockout services, so every unlock is audited.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LoginThrottle | None = None) -> bool:
        return False

    @admin.action(description="Lift the lock / clear the count (audited)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[LoginThrottle]) -> None:
        actor = cast(User, request.user)  # the admin site lets only signed-in staff this far
        for throttle in queryset:
            try:
                login_throttle_unlock(actor=actor, throttle=throttle)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.WARNING)
