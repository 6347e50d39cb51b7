"""Rate limits are shared by every process: the counters live in the broker's Redis/Valkey
(database 1), incremented atomically, and the limit is a sliding window estimated from two
fixed windows (core.throttling)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import _default_cache_url
from contracts.services import api_key_create
from core.throttling import SharedRateThrottle
from revenue.models import Sale
from revenue.throttling import IngestRateThrottle
from tests.support.api import assert_error

ROOT = Path(__file__).resolve().parents[2]


class MinuteThrottle(SharedRateThrottle):
    """A throttle of `rate` on a key of the test's choosing, on a clock of the test's."""

    scope = "test"

    def __init__(self, *, rate: str, key: str, clock: list[float]) -> None:
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        self.test_key = key
        self.timer = lambda: clock[0]

    def get_cache_key(self, request, view) -> str:
        return self.test_key


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_the_cache_is_the_brokers_redis_in_its_own_database():
    # given the test run's broker (dev.py starts a Valkey), then the default cache is a Redis
    # cache on the same server in database 1, so clearing it leaves queued tasks alone
    assert django_settings.CELERY_BROKER_URL.endswith("/0")
    assert isinstance(caches["default"], RedisCache)
    assert django_settings.CACHES["default"]["LOCATION"] == django_settings.CELERY_BROKER_URL[:-2] + "/1"
    assert django_settings.CACHES["default"]["KEY_PREFIX"] == "haken"


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1"),
        ("rediss://:secret@cache.internal:6380/3", "rediss://:secret@cache.internal:6380/1"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/1"),
        ("amqp://guest:guest@127.0.0.1:5672//", "locmemcache://"),
        ("", "locmemcache://"),
    ],
)
def test_the_default_cache_follows_the_broker(broker, expected):
    assert _default_cache_url(broker) == expected


def test_a_full_window_refuses_until_enough_of_it_has_slid_out():
    # given 3 requests a minute and a clock at the start of a window
    clock = [6_000_000.0]
    throttle = MinuteThrottle(rate="3/min", key="k", clock=clock)
    # when four requests arrive at once, then the fourth is refused
    assert [throttle.allow_request(None, None) for _ in range(4)] == [True, True, True, False]
    # and told to wait 80 s: the next window starts in 60 s, and a third of it must pass
    # before the three requests of this one weigh less than the two a fresh request leaves
    assert throttle.wait() == 80
    # when the clock is a second short of that, then still refused (the refusal used nothing)
    clock[0] += 79
    assert throttle.allow_request(None, None) is False
    assert throttle.wait() == 1
    # when it is reached, then exactly one request is allowed
    clock[0] += 1
    assert [throttle.allow_request(None, None) for _ in range(2)] == [True, False]


def test_separate_keys_have_separate_allowances():
    clock = [6_000_000.0]
    first = MinuteThrottle(rate="1/min", key="first", clock=clock)
    second = MinuteThrottle(rate="1/min", key="second", clock=clock)
    assert [first.allow_request(None, None), first.allow_request(None, None)] == [True, False]
    assert second.allow_request(None, None) is True


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=6),
    gaps=st.lists(st.floats(min_value=0, max_value=45, allow_nan=False), min_size=1, max_size=40),
)
def test_no_window_of_the_clock_ever_lets_more_than_the_limit_through(limit, gaps):
    # given any sequence of request times
    cache.clear()
    clock = [6_000_000.0]
    throttle = MinuteThrottle(rate=f"{limit}/min", key="prop", clock=clock)
    allowed_per_window: dict[int, int] = {}
    for gap in gaps:
        clock[0] += gap
        if throttle.allow_request(None, None):
            window = int(clock[0] // 60)
            allowed_per_window[window] = allowed_per_window.get(window, 0) + 1
        else:
            # then a refusal's Retry-After is honest: at that time, one request gets in
            wait = throttle.wait()
            probe = MinuteThrottle(rate=f"{limit}/min", key="prop", clock=[clock[0] + wait])
            assert probe.allow_request(None, None) is True
            cache.decr(f"prop:{int((clock[0] + wait) // 60)}")  # the probe was not a request
    # and no fixed window of the clock admitted more than the limit
    assert max(allowed_per_window.values()) <= limit


def test_an_unreachable_cache_lets_requests_through(caplog):
    # given the counters' cache on a port where nothing listens
    throttle = MinuteThrottle(rate="1/min", key="k", clock=[6_000_000.0])
    throttle.cache = RedisCache("redis://127.0.0.1:1/1", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    # when requests arrive, then they are allowed (sales feeds keep flowing) and it is logged
    assert [throttle.allow_request(None, None) for _ in range(3)] == [True, True, True]
    assert "not enforced: the cache is unreachable" in caplog.text


def test_requests_counted_by_another_process_count_here(world, settings):
    # given an ingestion limit of 3 requests a minute and a partner's API key
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"ingest": "3/min"}}
    created = api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS")
    # when another process (as another gunicorn worker would) lets two of the key's requests in
    script = (
        "import django, json, sys; from types import SimpleNamespace; django.setup()\n"
        "from revenue.throttling import IngestRateThrottle\n"
        "request = SimpleNamespace(user=SimpleNamespace(api_key=SimpleNamespace(prefix=sys.argv[1])), META={})\n"
        "print(json.dumps([IngestRateThrottle().allow_request(request, None) for _ in range(2)]))\n"
    )
    env = {**os.environ, "INGEST_RATE": "3/min", "DJANGO_SETTINGS_MODULE": "config.settings"}
    other = subprocess.run(
        [sys.executable, "-c", script, created.key.prefix],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(other.stdout.strip().splitlines()[-1]) == [True, True]
    # then this process lets one more in and refuses the next, storing nothing for it
    client_headers = {"HTTP_AUTHORIZATION": f"Bearer {created.secret}"}
    from rest_framework.test import APIClient

    client = APIClient()
    body = {
        "events": [
            {
                "external_id": "pos-1",
                "type": "sale",
                "occurred_at": "2026-10-03T12:01:00+09:00",
                "amount": 1280,
                "currency": "JPY",
            }
        ]
    }
    assert client.post("/api/v1/sales", body, format="json", **client_headers).status_code == 200
    body["events"][0]["external_id"] = "pos-2"
    refused = client.post("/api/v1/sales", body, format="json", **client_headers)
    assert_error(refused, 429, "throttled")
    assert list(Sale.objects.values_list("external_id", flat=True)) == ["pos-1"]
    # and both processes counted under the same key
    request = SimpleNamespace(user=SimpleNamespace(api_key=created.key), META={})
    assert IngestRateThrottle().get_cache_key(request, None) == f"throttle_ingest_key:{created.key.prefix}"
