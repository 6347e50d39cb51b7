"""The OpenAPI document is part of the public contract (DESIGN.md §5b): it must generate
without a single warning and validate against the OpenAPI specification."""

from io import StringIO

from django.core.management import call_command


def test_openapi_schema_generates_cleanly_and_validates(db):
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert out.getvalue().startswith("openapi: 3.0.3")
    assert "partnerApiKey:" in out.getvalue()
