"""The root conftest: only the list of fixture plugins. Every fixture shared across folders
lives in a module of tests/fixtures/; helper functions live in tests/support/. A test
module never imports another test module (see tests/README.md)."""

pytest_plugins = [
    "tests.fixtures.settings",
    "tests.fixtures.world",
    "tests.fixtures.celery",
    "tests.fixtures.stripe",
    "tests.fixtures.broker",
    "tests.fixtures.snapshot",
    "tests.fixtures.webhooks",
    "tests.fixtures.translations",
    "tests.fixtures.tax",
]
