"""The partner dashboard's requests in the mixed load test, shared by the locustfile (which
sends them) and load_mixed (which replays each page's SQL for its baseline). No Django and
no locust imports here: locust's gevent patching must not reach the benchmark process."""

from __future__ import annotations

from typing import Any


def dashboard_requests(config: dict[str, Any], statement: int | None = None) -> list[tuple[str, str, int]]:
    """(locust name, path, weight) of what a partner's staff watch: the portal's home,
    revenue (statements and the chart of attributed sales), the sales list this month and
    last, one statement, invoices, and the statements API for a settled month."""
    requests = [
        ("dashboard: GET /portal/", "/portal/", 3),
        ("dashboard: GET /portal/revenue/", "/portal/revenue/", 3),
        ("dashboard: GET /portal/sales/ (this month)", "/portal/sales/", 3),
        ("dashboard: GET /portal/sales/?period=last", f"/portal/sales/?period={config['last_period']}", 2),
        (
            "dashboard: GET /portal/sales/?period=last&page=2",
            f"/portal/sales/?period={config['last_period']}&page=2",
            1,
        ),
        ("dashboard: GET /portal/invoices/", "/portal/invoices/", 1),
        ("dashboard: GET /api/v1/statements?period=", f"/api/v1/statements?period={config['statement_period']}", 1),
    ]
    if config["statements"]:
        chosen = statement if statement is not None else config["statements"][0]
        requests.append(("dashboard: GET /portal/statements/<id>/", f"/portal/statements/{chosen}/", 1))
    return requests
