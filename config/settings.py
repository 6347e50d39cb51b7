"""Settings, all from the environment. The variables are listed in the README."""

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set (python3 dev.py run|test generates one under .data/).")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "core",
    "employees",
    "contracts",
    "webhooks",
    "ledger",
    "revenue",
    "payments",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.ApiUrlGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (it reads the language cookie), before CommonMiddleware (Django's order):
    # the browser's choice (cookie, else Accept-Language) for everyone ...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "contracts.middleware.ViewerTimeZoneMiddleware",
    # ... then a signed-in person's stored choice (User.language) over it, once the user is known.
    "core.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.StyledErrorPagesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "contracts.context_processors.navigation",
            ],
            # `|when` (an instant in the viewer's zone, labelled) on every page without a load.
            "builtins": ["core.templatetags.when"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL")}
# postgres://user@/name?host=/socket/dir (how dev.py names the embedded server's socket).
if not DATABASES["default"]["HOST"] and "host" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Password sign-in counts failures per username and per client address (core.LoginThrottle).
AUTHENTICATION_BACKENDS = ["core.auth_backends.LockoutModelBackend"]
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
LOGIN_ADDRESS_MAX_FAILURES = env.int("LOGIN_ADDRESS_MAX_FAILURES", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The portal's languages (the catalogue in locale/ja; `python3 dev.py messages` refreshes it and
# `dev.py run|test` compile it in pure Python, core/catalog.py).
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date formats per language (config/formats/<lang>/formats.py) over Django's own.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / ".data" / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Outside DEBUG, hashed and compressed files from collectstatic's manifest. Another
        # backend (a CDN's, or the plain one where no manifest is wanted) by name.
        "BACKEND": env(
            "DJANGO_STATICFILES_STORAGE",
            default=(
                "django.contrib.staticfiles.storage.StaticFilesStorage"
                if DEBUG
                else "whitenoise.storage.CompressedManifestStaticFilesStorage"
            ),
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Haken <no-reply@haken.example>")
# How long an invitation link to join a partner organisation works (contracts.Invitation).
INVITATION_TTL_HOURS = env.int("INVITATION_TTL_HOURS", default=168)

SESSION_COOKIE_HTTPONLY = True
# DJANGO_SECURE_COOKIES=true says the site is served over HTTPS: the HTTPS settings below
# follow it by default, so plain-http development (`dev.py run`) needs none of them.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SESSION_COOKIE_SECURE)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if SESSION_COOKIE_SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy: e.g. "HTTP_X_FORWARDED_PROTO,https". Set it only when the
# proxy always sets (and strips incoming) that header.
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
if SECURE_PROXY_SSL_HEADER is not None and len(SECURE_PROXY_SSL_HEADER) != 2:
    raise ImproperlyConfigured("DJANGO_SECURE_PROXY_SSL_HEADER is `HEADER,value`, e.g. HTTP_X_FORWARDED_PROTO,https.")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on every response (core.middleware). Scripts only from this site, no inline scripts
# or handlers, no eval; styles only from this site's stylesheets, no style attributes or
# <style> elements (tests/security/test_csp.py walks every page for them).
CONTENT_SECURITY_POLICY = env(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "contracts.authentication.PartnerApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Requests per API key (or signed-in person) to the ingestion endpoints; e.g. 6000/min.
    "DEFAULT_THROTTLE_RATES": {"ingest": env("INGEST_RATE", default="6000/min")},
}

SPECTACULAR_SETTINGS = {
    # Payout runs share the settlement runs' statuses: one enum, under its existing name.
    "ENUM_NAME_OVERRIDES": {
        "InvoiceStatusEnum": "payments.models.Invoice.Status",
        "SettlementRunStatusEnum": "revenue.models.SettlementRun.Status",
        "MembershipRoleEnum": "contracts.models.PartnerMembership.Role",
        "IndustryEnum": "employees.models.Industry",
    },
    "TITLE": "Haken partner API",
    "DESCRIPTION": (
        "Digital employees placed with partner businesses, paid a share of the revenue "
        "they help create. Authenticate partner systems with `Authorization: Bearer <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI would otherwise send the schema to an outside validator.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None},
}

# Payments (payments.providers). With no API key, partners and payees use the manual provider.
STRIPE_API_KEY = env("STRIPE_API_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")  # e.g. a local Stripe-compatible server
PAYMENTS_INVOICE_DAYS_DUE = env.int("PAYMENTS_INVOICE_DAYS_DUE", default=30)
# The platform's own tax identity (payments.tax), printed on every qualified invoice. The
# registration number has a valid-looking test value only in DEBUG (the demo); elsewhere it
# must be set, or invoices that need it are refused.
PLATFORM_TAX_COUNTRY = env("PLATFORM_TAX_COUNTRY", default="JP").upper()
PLATFORM_LEGAL_NAME = env("PLATFORM_LEGAL_NAME", default="Haken K.K.")
PLATFORM_TAX_REGISTRATION_NUMBER = env("PLATFORM_TAX_REGISTRATION_NUMBER", default="T1234567890123" if DEBUG else "")

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")


def _default_cache_url(broker_url: str) -> str:
    """The broker's Redis/Valkey, in database 1: rate-limit counters must be shared by every
    web process to be a limit at all, and a cache clear must never drop queued tasks. With
    no Redis broker (RabbitMQ, or none), a per-process memory cache: set CACHE_URL."""
    parts = urlsplit(broker_url)
    if parts.scheme not in {"redis", "rediss"}:
        return "locmemcache://"
    return urlunsplit(parts._replace(path="/1"))


CACHES = {"default": env.cache_url("CACHE_URL", default=_default_cache_url(CELERY_BROKER_URL))}
CACHES["default"].setdefault("KEY_PREFIX", "haken")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection after each task unless this is set;
# with it, the fixup closes them only every this many tasks and config/celery.py keeps or
# drops them per task by CONN_MAX_AGE and the health checks, as Django does per request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Four lanes, so that a month-end settlement or a large CSV never sits in front of a
# shopper's chat reply: each lane has workers of its own (`python3 dev.py run` starts one per
# lane; the README gives the commands for more machines). A worker started without -Q takes
# every lane, as the tests' workers do. Everything else (notices, activation, sweeps) goes to
# `default`, which the ingestion workers also take.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue("chat"), Queue("ingest"), Queue("settle"), Queue("webhooks"), Queue("default")]
# The lanes keep a settlement out of the chat queue, but on a small machine its month-wide
# aggregate (PostgreSQL's parallel workers) still takes every core a shopper's turn needs.
# This caps the parallel workers of settlement's aggregates; unset, PostgreSQL's own
# max_parallel_workers_per_gather applies (2 by default).
SETTLEMENT_PARALLEL_WORKERS = env.int("SETTLEMENT_PARALLEL_WORKERS", default=None)
CELERY_TASK_ROUTES = {
    "agents.tasks.message_reply": {"queue": "chat"},
    "agents.tasks.reply_sweep": {"queue": "chat"},
    "revenue.tasks.attribution_*": {"queue": "ingest"},
    "revenue.tasks.upload_process_task": {"queue": "ingest"},
    # Partition maintenance serves ingestion (a month's partition before its first sale).
    "revenue.tasks.sale_partitions_ensure_task": {"queue": "ingest"},
    "revenue.tasks.settlement_*": {"queue": "settle"},
    "revenue.tasks.rollup_*": {"queue": "settle"},
    "payments.tasks.*": {"queue": "settle"},
    # A partner's slow or dead endpoint (each attempt may wait WEBHOOK_TIMEOUT_SECONDS) holds
    # only the webhook workers, never attribution, notices or payouts.
    "webhooks.tasks.*": {"queue": "webhooks"},
}
# Work queued after a commit (core.queue) whose message was lost — the broker was down — or
# whose worker died is found by the beat's stall sweeps once it is this old: long enough for
# a busy worker to pick a message up. A shopper waiting for a chat reply gets a shorter one,
# and a reply that could not be made within a day is no longer sought (a message that fails
# every time must not be retried for ever). Each sweep queues at most a batch per run.
STALLED_WORK_AFTER = timedelta(seconds=env.int("STALLED_WORK_AFTER_SECONDS", default=300))
STALLED_REPLY_AFTER = timedelta(seconds=env.int("STALLED_REPLY_AFTER_SECONDS", default=60))
STALLED_REPLY_UNTIL = timedelta(seconds=env.int("STALLED_REPLY_UNTIL_SECONDS", default=86_400))
STALLED_WORK_BATCH = env.int("STALLED_WORK_BATCH", default=500)
CELERY_BEAT_SCHEDULE = {
    "placements-activate-due": {
        "task": "contracts.tasks.placements_activate_due",
        # Contract versions take effect at a period start (00:00 in the partner's zone);
        # partners span many zones, so look every quarter hour.
        "schedule": crontab(minute="*/15"),
    },
    "attribution-sweep": {
        "task": "revenue.tasks.attribution_sweep",
        "schedule": crontab(minute="*/5"),
    },
    "sale-partitions-ensure": {
        "task": "revenue.tasks.sale_partitions_ensure_task",
        # The sales' monthly partitions three months ahead, and a partition for any month whose
        # sales landed in the DEFAULT one (revenue.services.partitions). Daily is plenty.
        "schedule": crontab(minute=10, hour=3),
    },
    "stalled-work-sweep": {
        "task": "revenue.tasks.stalled_work_sweep",
        # Uploads and settlement runs a killed worker left behind, within minutes rather
        # than the broker's visibility timeout (an hour).
        "schedule": crontab(minute="*/5"),
    },
    "payments-stalled-work-sweep": {
        "task": "payments.tasks.stalled_work_sweep",
        # Invoices still to be issued, payout and reconciliation runs nobody works on.
        "schedule": crontab(minute="*/5"),
    },
    "notifications-sweep": {
        "task": "contracts.tasks.notifications_sweep",
        "schedule": crontab(minute="*/5"),
    },
    "webhooks-stalled-sweep": {
        "task": "webhooks.tasks.webhook_stalled_sweep",
        # Deliveries due for a while that nobody attempts (a lost message, a dead worker).
        "schedule": crontab(minute="*"),
    },
    "agents-reply-sweep": {
        "task": "agents.tasks.reply_sweep",
        # A shopper is waiting: every minute.
        "schedule": crontab(minute="*"),
    },
    "settlement-closed-period": {
        "task": "revenue.tasks.settlement_run_closed_period",
        # Daily; the task acts once the previous month has ended in every zone.
        "schedule": crontab(minute=30, hour=12),
    },
    "rollup-reconcile-recent": {
        "task": "revenue.tasks.rollup_reconcile_recent",
        # The monthly roll-up checked against the sales of the months still changing: it is
        # kept in the writes' own statements, so this finds only what escaped them (a row
        # written by hand, the release gap of migration revenue 0016) and says so.
        "schedule": crontab(minute=40),
    },
    "payout-run-scheduled": {
        "task": "payments.tasks.payout_run_scheduled",
        # Daily: pays what is collected and past its hold; retries failed transfers.
        "schedule": crontab(minute=0, hour=3),
    },
}

# Outbound webhooks (webhooks/). An attempt without a 2xx answer is retried after each of
# these delays in turn (seconds: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h), then the delivery
# has failed; an endpoint whose deliveries fail this many times in a row is disabled and
# its partner's owners are told. Private, loopback and link-local targets (an intranet, the
# cloud's metadata address) are refused unless WEBHOOK_ALLOW_PRIVATE_TARGETS (default: on
# with DJANGO_DEBUG, as `dev.py run` has it, so the demo and tests can deliver to a
# receiver on 127.0.0.1; off in production).
WEBHOOK_RETRY_SCHEDULE = [
    int(s) for s in env.list("WEBHOOK_RETRY_SCHEDULE_SECONDS", default=["60", "300", "1800", "7200", "21600", "43200"])
]
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=5)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=DEBUG)
# After a secret is rotated the old one signs too (a second v1=) for this long.
WEBHOOK_SECRET_ROTATION_GRACE = timedelta(seconds=env.int("WEBHOOK_SECRET_ROTATION_GRACE_SECONDS", default=86_400))
# A sale.attributed event lists at most this many sales; a larger pass sends several.
WEBHOOK_SALES_PER_EVENT = env.int("WEBHOOK_SALES_PER_EVENT", default=1000)

# Four eyes on money: approving a statement whose payable is above this many minor units
# (per currency; "*" for currencies not listed) needs someone other than who submitted it,
# and a payout run paying a statement above it needs someone other than who approved that
# statement. A bare integer applies to every currency. 0: every non-zero amount.
_four_eyes = env.json("FOUR_EYES_THRESHOLD", default={"*": 0})
FOUR_EYES_THRESHOLD = _four_eyes if isinstance(_four_eyes, dict) else {"*": _four_eyes}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    # stripe-python logs every request at INFO.
    "loggers": {"stripe": {"level": env("STRIPE_LOG_LEVEL", default="WARNING")}},
}

# Agents (DESIGN.md §6; agents/llm.py explains each). Empty AGENT_MODELS: the offline engine.
AGENT_MODELS = env.json("AGENT_MODELS", default={})
AGENT_MODEL_PRICES = env.json("AGENT_MODEL_PRICES", default={})
AGENT_TIER_FALLBACK = env.list("AGENT_TIER_FALLBACK", default=["large", "small"])
AGENT_MODEL_TIMEOUT = env.float("AGENT_MODEL_TIMEOUT", default=30.0)
AGENT_MAX_MESSAGE_CHARS = env.int("AGENT_MAX_MESSAGE_CHARS", default=2000)
# What per-call pricing would charge for one model call, in major units, per currency.
AGENT_PER_CALL_PRICES = env.json("AGENT_PER_CALL_PRICES", default={"JPY": "3", "USD": "0.02", "EUR": "0.02"})
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["widget"] = env("AGENT_WIDGET_RATE", default="30/min")
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["widget_read"] = env("AGENT_WIDGET_READ_RATE", default="240/min")
