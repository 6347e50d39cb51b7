"""How drf-spectacular describes partner API keys in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PartnerApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "contracts.authentication.PartnerApiKeyAuthentication"
    name = "partnerApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner API key (hk_live_…), created by a partner owner in the portal.",
        }
