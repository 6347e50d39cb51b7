from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import ApplicationError
from employees import services
from employees.models import DigitalEmployee


@admin.register(DigitalEmployee)
class DigitalEmployeeAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "status", "built_by", "published_at")
    list_filter = ("status",)
    search_fields = ("name", "title", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("status", "published_at", "created_at", "updated_at")
    actions = ("publish", "retire")

    # Status changes go through the services so they are audited like any other.
    @admin.action(description="Publish selected drafts")
    def publish(self, request: HttpRequest, queryset: QuerySet[DigitalEmployee]) -> None:
        self._apply(request, queryset, services.employee_publish)

    @admin.action(description="Retire selected employees")
    def retire(self, request: HttpRequest, queryset: QuerySet[DigitalEmployee]) -> None:
        self._apply(request, queryset, services.employee_retire)

    def _apply(self, request: HttpRequest, queryset: QuerySet[DigitalEmployee], service) -> None:
        for employee in queryset:
            try:
                service(actor=request.user, employee=employee)
            except ApplicationError as error:
                self.message_user(request, error.message, level=messages.ERROR)

    def save_model(self, request: HttpRequest, obj: DigitalEmployee, form, change: bool) -> None:
        services.employee_validate(skills=obj.skills, industries=obj.industries, languages=obj.languages)
        super().save_model(request, obj, form, change)
