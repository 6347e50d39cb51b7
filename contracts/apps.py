from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = "Partners, placements and contracts"

    def ready(self) -> None:
        from contracts import schema  # noqa: F401 - registers the OpenAPI auth scheme
        from contracts.selectors import hiring_status_by_employee
        from employees.hiring import register_open_placement_lookup

        register_open_placement_lookup(hiring_status_by_employee)
