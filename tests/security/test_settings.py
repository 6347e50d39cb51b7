"""Production settings pass `manage.py check --deploy`, and development keeps plain http."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "q7Vd0-" + "x8Lr2pZk4Wn6Ys1Tb3Hm5Jc9Gf0Qa7Ue2Ro4Ki6Pl8Nw" * 2,
    "DJANGO_SECURE_COOKIES": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_ALLOWED_HOSTS": "haken.example",
}

SETTINGS_DUMP = (
    "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) for k in "
    "['DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'SECURE_PROXY_SSL_HEADER']}))"
)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    base["DJANGO_SECRET_KEY"] = os.environ["DJANGO_SECRET_KEY"]
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_production_environment_passes_check_deploy_with_no_warning():
    # given the production environment
    # when `manage.py check --deploy` runs, failing on any warning
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    # then it passes with nothing to report
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_defaults_follow_secure_cookies():
    # given the production environment with no HSTS / redirect variables of its own
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECURE_HSTS_PRELOAD"}
    # when the settings load
    result = manage("shell", "-c", SETTINGS_DUMP, env=env)
    # then HTTPS is enforced
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_development_keeps_plain_http_on_loopback():
    # given what `dev.py run` sets: DEBUG on, nothing about HTTPS
    result = manage("shell", "-c", SETTINGS_DUMP, env={"DJANGO_DEBUG": "true"})
    # then nothing redirects to https, no HSTS is sent and cookies work over http
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "DEBUG": True,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_a_proxy_ssl_header_is_read_as_a_pair():
    # given a deployment behind a TLS-terminating proxy
    env = {**PRODUCTION, "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https"}
    result = manage("shell", "-c", SETTINGS_DUMP, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    # and a malformed one is refused at start-up
    bad = manage("check", env={**PRODUCTION, "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"})
    assert bad.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER is `HEADER,value`" in bad.stderr
