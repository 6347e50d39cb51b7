from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = "Partners, placements and contracts"

    def ready(self) -> None:
        from contracts import schema  # noqa: F401 - registers the OpenAPI auth scheme
