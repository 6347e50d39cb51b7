from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Industry(models.TextChoices):
    CONVENIENCE_RETAIL = "convenience_retail", _("Convenience retail")
    ECOMMERCE = "ecommerce", _("E-commerce")
    TRAVEL = "travel", _("Travel")
    FILM_MEDIA = "film_media", _("Film & media")
    STREAMING = "streaming", _("Streaming")
    HOSPITALITY = "hospitality", _("Hospitality")
    FINANCIAL_SERVICES = "financial_services", _("Financial services")


class DigitalEmployee(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=80)
    title = models.CharField(max_length=120)
    persona = models.TextField(help_text="How the employee speaks and behaves.")
    resume = models.TextField(help_text="Background and strengths, shown on the résumé page.")
    skills = ArrayField(models.CharField(max_length=40), default=list)
    languages = ArrayField(models.CharField(max_length=8), default=list)
    industries = ArrayField(models.CharField(max_length=40, choices=Industry.choices), default=list)
    built_by = models.CharField(max_length=120, help_text="The studio that built the employee.")
    avatar = models.FileField(upload_to="avatars/", blank=True)
    # A generated avatar (initials on this colour) stands in when no image is uploaded.
    avatar_color = models.CharField(max_length=7, default="#4f46e5")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "published", "retired"]),
                name="employee_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="published") | models.Q(published_at__isnull=False),
                name="employee_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}, {self.title}"

    @property
    def initials(self) -> str:
        return "".join(part[0] for part in self.name.split()[:2]).upper()

    @property
    def is_hireable(self) -> bool:
        return self.status == self.Status.PUBLISHED
