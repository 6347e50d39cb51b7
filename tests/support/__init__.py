"""Helper functions (not fixtures) that several test modules call.

Import them as `from tests.support.<module> import name`. Fixtures live in
tests/fixtures/ (conftest plugins listed in tests/conftest.py); a test module never
imports another test module. See tests/README.md."""
