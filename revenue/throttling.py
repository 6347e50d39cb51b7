"""Rate limit of the ingestion endpoints, per API key (or per signed-in person).

The rate is `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["ingest"]` (settings: env
INGEST_RATE, default 6000/min). It is read on every request rather than once at import,
so a settings override takes effect at once. The counters live in the shared cache
(core.throttling), so the limit holds across every web process.
"""

from __future__ import annotations

from rest_framework.settings import api_settings

from core.throttling import SharedRateThrottle


class IngestRateThrottle(SharedRateThrottle):
    scope = "ingest"

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate else None

    def get_cache_key(self, request, view) -> str:
        api_key = getattr(request.user, "api_key", None)
        if api_key is not None:
            ident = f"key:{api_key.prefix}"
        elif request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
