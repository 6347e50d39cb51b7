"""`Authorization: Bearer <partner API key>` for partner systems."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from contracts.models import PartnerApiKey
from contracts.services import api_key_authenticate


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Who a request authenticated by API key acts as: the partner's system, no person."""

    api_key: PartnerApiKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    role = "partner"
    pk = None

    @property
    def api_partner_id(self) -> int:
        return self.api_key.partner_id

    @property
    def username(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class PartnerApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        # Authentication schemes are case-insensitive (RFC 7235 §2.1): "bearer" is "Bearer".
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("The Authorization header has no API key.")
        key = api_key_authenticate(raw_key=raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or has been revoked.")
        return ApiKeyPrincipal(api_key=key), key

    def authenticate_header(self, request) -> str:
        return self.keyword
