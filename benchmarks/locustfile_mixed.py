"""Locust users of the mixed load test; started by benchmarks/load_mixed.py, which writes the
configuration (API key, login, keys of recent touchpoints, periods) to the JSON file named
by LOAD_MIXED_CONFIG and sets how many users of each class run.

Every request's own time is also written to the config's `samples` file (JSON lines) when
locust quits, so load_mixed can state per-class percentiles without locust's rounding."""

from __future__ import annotations

import json
import os
import random
import re
import sys
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from locust import HttpUser, between, constant, events, task

# locust puts only this file's folder on the path; the shared page list is imported as
# part of the project's `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.load_pages import dashboard_requests

CONFIG: dict[str, Any] = json.loads(open(os.environ["LOAD_MIXED_CONFIG"]).read())  # noqa: SIM115
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
KEY_COLUMNS = {"coupon": "coupon_code", "click": "click_id", "conversation": "conversation_id"}
SAMPLES: list[dict[str, Any]] = []
_users = count()


@events.request.add_listener
def _record(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
    SAMPLES.append({"cls": name.split(":", 1)[0], "name": name, "ms": round(response_time, 1), "ok": exception is None})


@events.quitting.add_listener
def _dump(**_: Any) -> None:
    with open(CONFIG["samples"], "w") as out:
        out.writelines(json.dumps(sample) + "\n" for sample in SAMPLES)


class IngestUser(HttpUser):
    """A partner system posting its sales in 1,000-event batches, back to back."""

    fixed_count = int(os.environ.get("LOAD_INGEST_USERS", "1"))
    wait_time = constant(0)

    def on_start(self) -> None:
        self.number = next(_users)
        self.batches = count()
        self.headers = {"Authorization": f"Bearer {CONFIG['key']}", "Content-Type": "application/json"}
        self.keys = [(KEY_COLUMNS[kind], key) for kind, keys in CONFIG["keys"].items() for key in keys]
        self.period_start = datetime.fromisoformat(CONFIG["period_start"])

    def batch(self) -> list[dict[str, Any]]:
        """Fresh external_ids; times in the last hours of this month; 70% carry a recent
        touchpoint's key; every 20th event refunds an earlier sale of the same batch."""
        prefix = f"load-{CONFIG['run']}-{self.number}-{next(self.batches)}"
        now = datetime.now(self.period_start.tzinfo)
        events_: list[dict[str, Any]] = []
        for i in range(CONFIG["batch"]):
            if i % 20 == 19:
                target = events_[i - 1 - (i * 7) % 18]
                if target["type"] == "sale":
                    events_.append(
                        {
                            "external_id": f"{prefix}-{i}",
                            "type": "refund",
                            "refund_of": target["external_id"],
                            "occurred_at": now.isoformat(),
                            "amount": min(100, target["amount"]),
                            "currency": "JPY",
                        }
                    )
                    continue
            at = max(self.period_start, now - timedelta(seconds=random.randrange(36000)))
            event = {
                "external_id": f"{prefix}-{i}",
                "type": "sale",
                "occurred_at": at.isoformat(),
                "amount": random.randrange(100, 50_000),
                "currency": "JPY",
                "customer_ref": f"c{random.randrange(50_000)}",
                "store_id": f"store-{random.randrange(300)}",
            }
            if self.keys and random.random() < 0.7:
                column, key = random.choice(self.keys)
                event[column] = key
            events_.append(event)
        return events_

    @task
    def post_sales(self) -> None:
        body = json.dumps({"events": self.batch()}, separators=(",", ":"))
        with self.client.post(
            "/api/v1/sales", data=body, headers=self.headers, name="ingest: POST /api/v1/sales", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]} {response.error!r}")
                return
            result = response.json()
            if result.get("rejected") or result.get("accepted") != CONFIG["batch"]:
                response.failure(f"not all accepted: {str(result)[:300]}")


class DashboardUser(HttpUser):
    """A partner member in the portal, signed in as a browser signs in."""

    fixed_count = int(os.environ.get("LOAD_DASHBOARD_USERS", "1"))
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        page = self.client.get("/login/", name="login: GET /login/")
        match = CSRF.search(page.text)
        if match is None:
            raise RuntimeError("no CSRF token on /login/")
        with self.client.post(
            "/login/",
            name="login: POST /login/",
            catch_response=True,
            data={
                "username": CONFIG["username"],
                "password": CONFIG["password"],
                "csrfmiddlewaretoken": match.group(1),
            },
            headers={"Referer": f"{self.host}/login/"},
        ) as response:
            # A sign-in that failed draws the form again (200 on /login/); one that worked
            # redirects to the home page.
            if response.status_code != 200 or response.url.rstrip("/").endswith("/login"):
                response.failure(f"sign-in failed: {response.status_code} {response.url}")

    @task
    def watch(self) -> None:
        statement = random.choice(CONFIG["statements"]) if CONFIG["statements"] else None
        requests = dashboard_requests(CONFIG, statement)
        name, path, _ = random.choices(requests, weights=[weight for _, _, weight in requests])[0]
        with self.client.get(path, name=name, catch_response=True) as response:
            if not 200 <= response.status_code < 300 or "/login/" in response.url:
                response.failure(f"{response.status_code} {response.url} {response.error!r}")
