from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting pieces every app leans on: users and roles, the audit log, the error
    hierarchy and its API rendering, currencies."""

    name = "core"
