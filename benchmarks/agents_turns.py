"""Agent turns through Celery with the offline engine: the overhead of a turn excluding
model time, and turns per second, on this machine.

    python3 dev.py bench agents_turns [--sequential 100] [--burst 300] [--concurrency 2] [--in-process 200]

Sets up one active placement of Rinna with a catalog and an offer (through the services),
starts a real `celery worker` (prefork, --concurrency) on the bench database and the broker
dev.py started, then:

1. sequential: one turn at a time (post a message, wait for the reply). A turn's overhead
   is the time from the inbound message's row to its reply's row minus the time spent in
   model calls (the AgentRuns' latency): commit, broker, worker pick-up, locking, the
   LangGraph workflow, tools, retrieval queries and writes. Reported as p50 and p95.
2. burst: that many conversations posted at once; turns per second from the first message
   to the last reply. Half of the shoppers ask for a deal (a coupon and a touchpoint are
   written), half for products.

First, before the worker starts, `--in-process` turns (0: none) are answered in this process
by `message_answer` itself (the lock to the commit, no broker, warm): its time per product
and per coupon turn, the part of it spent in the database driver's execute, and statements
per turn. The messages these turns queued are purged when the worker starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402

from agents import services  # noqa: E402
from agents.models import AgentRun, Message  # noqa: E402
from benchmarks.fixtures import build_placements, reset_revenue_tables  # noqa: E402
from benchmarks.processes import start_worker, wait_worker_ready  # noqa: E402
from contracts.models import PartnerMembership, Placement  # noqa: E402
from core.models import User  # noqa: E402

CATALOG = b"""sku,name,description,price,tags
ONI-SALMON,Salmon onigiri,Rice ball with grilled salmon. A classic lunch.,180,lunch;rice
BENTO-KARAAGE,Karaage bento,Fried chicken bento box with rice and pickles. Hearty lunch.,598,lunch;hot
NIKUMAN,Nikuman steamed bun,Hot pork bun from the steamer at the register.,160,hot;snack
PUDDING,Custard pudding,Silky caramel custard pudding. A sweet treat.,210,sweet;dessert
GREEN-TEA,Green tea 500ml,Unsweetened bottled green tea.,140,drink
"""
QUESTIONS = (
    "Something hot for lunch?",
    "Do you have a coupon today?",
    "Anything sweet for dessert?",
    "Any discount on snacks?",
)


def reset() -> Placement:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE agents_agentrun, agents_issuedcoupon, agents_copydraft, agents_message, "
            "agents_conversation, agents_catalogitem, agents_knowledgechunk, agents_knowledgedocument, "
            "agents_couponoffer, agents_widget, core_auditlog RESTART IDENTITY CASCADE"
        )
    reset_revenue_tables()
    placement_id, partner_id = build_placements(1, per_partner=1)[0]
    owner, _ = User.objects.get_or_create(username="bench-owner", defaults={"role": "partner"})
    PartnerMembership.objects.update_or_create(user=owner, defaults={"partner_id": partner_id, "role": "owner"})
    placement = Placement.objects.get(pk=placement_id)
    services.catalog_upload(actor=owner, placement=placement, content=CATALOG)
    services.offer_create(
        actor=owner,
        placement=placement,
        title="10% off hot snacks",
        percent_off=10,
        code_prefix="BENCH",
        tags=["hot", "snack"],
    )
    return placement


def wait_ready(placement: Placement, process: subprocess.Popen, log_path: Path) -> None:
    wait_worker_ready(process, log_path)
    # A warm-up turn: the worker is warm once it has answered one (imports, graphs compiled).
    started = services.conversation_start(placement=placement, channel="widget", text="hello")
    deadline = time.monotonic() + 120
    while not Message.objects.filter(reply_to=started.message).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not answer:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.05)


def turn_figures(message_ids: list[int]) -> list[tuple[float, float]]:
    """(end-to-end ms, model ms) per inbound message."""
    replies = dict(Message.objects.filter(reply_to_id__in=message_ids).values_list("reply_to_id", "created_at"))
    posted = dict(Message.objects.filter(pk__in=message_ids).values_list("pk", "created_at"))
    model = dict(
        AgentRun.objects.filter(message_id__in=message_ids)
        .values("message_id")
        .annotate(ms=Sum("latency_ms"))
        .values_list("message_id", "ms")
    )
    return [((replies[pk] - posted[pk]).total_seconds() * 1000, float(model.get(pk) or 0)) for pk in message_ids]


class _StatementTimer:
    """A connection.execute_wrapper: statements and the time spent executing them."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started


def in_process(placement: Placement, turns: int) -> None:
    """Turns answered here, without Celery: what a worker's turn costs once it has the task."""
    for text in QUESTIONS:  # warm: the per-process caches and the code paths of each kind
        services.message_answer(
            message_id=services.conversation_start(placement=placement, channel="widget", text=text).message.pk
        )
    figures: dict[str, list[tuple[float, float, int]]] = {"product": [], "coupon": []}
    for n in range(turns):
        text = QUESTIONS[n % len(QUESTIONS)]
        message_id = services.conversation_start(placement=placement, channel="widget", text=text).message.pk
        timer = _StatementTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            reply = services.message_answer(message_id=message_id)
            elapsed = time.perf_counter() - started
        kind = "coupon" if reply is not None and reply.intent == "coupon" else "product"
        figures[kind].append((elapsed * 1000, timer.seconds * 1000, timer.count))
    for kind, rows in figures.items():
        if rows:
            print(
                f"  in-process {kind} turn, p50 / p95 {percentile([r[0] for r in rows], 50):12.1f} / "
                f"{percentile([r[0] for r in rows], 95):.1f} ms (executing statements "
                f"{statistics.median(r[1] for r in rows):.1f} ms, {min(r[2] for r in rows)}–{max(r[2] for r in rows)} "
                f"statements; {len(rows)} turns)"
            )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--in-process", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    placement = reset()
    if args.in_process:
        print(f"agents_turns: offline engine, {args.in_process} turns in this process (no broker)")
        in_process(placement, args.in_process)
    log_path = ROOT / ".data" / "bench" / "agents-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = start_worker(args.concurrency, log_path)
    try:
        wait_ready(placement, process, log_path)
        print(f"agents_turns: offline engine, worker prefork x{args.concurrency}, cpu count {os.cpu_count()}")

        # 1. one turn at a time
        sequential_ids = []
        for n in range(args.sequential):
            started = services.conversation_start(
                placement=placement, channel="widget", text=QUESTIONS[n % len(QUESTIONS)]
            )
            while not Message.objects.filter(reply_to=started.message).exists():
                time.sleep(0.002)
            sequential_ids.append(started.message.pk)
        figures = turn_figures(sequential_ids)
        overhead = [end - model for end, model in figures]
        model_ms = [model for _, model in figures]
        print(f"  sequential turns                         {len(figures):>8}")
        print(f"  overhead excluding model time, p50       {percentile(overhead, 50):8.1f} ms")
        print(f"  overhead excluding model time, p95       {percentile(overhead, 95):8.1f} ms")
        print(
            f"  end to end, p50 / p95                    {percentile([e for e, _ in figures], 50):8.1f} / "
            f"{percentile([e for e, _ in figures], 95):.1f} ms"
        )
        print(f"  model time (offline engine), mean        {statistics.mean(model_ms):8.1f} ms per turn")

        # 2. a burst of conversations
        first = time.perf_counter()
        burst_ids = [
            services.conversation_start(
                placement=placement, channel="widget", text=QUESTIONS[n % len(QUESTIONS)]
            ).message.pk
            for n in range(args.burst)
        ]
        posted_in = time.perf_counter() - first
        while Message.objects.filter(reply_to_id__in=burst_ids).count() < len(burst_ids):
            if process.poll() is not None:
                raise SystemExit(f"worker died:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - first
        answered = Message.objects.filter(reply_to_id__in=burst_ids, status="sent").count()
        failed = Message.objects.filter(pk__in=burst_ids, status="failed").count()
        print(f"  burst turns                              {len(burst_ids):>8} (posted in {posted_in:.2f} s)")
        print(f"  turns per second                         {len(burst_ids) / elapsed:8.1f} /s ({elapsed:.2f} s)")
        print(f"  replies / apologies                      {answered:>8} / {failed}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
