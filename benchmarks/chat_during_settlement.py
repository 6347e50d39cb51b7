"""A shopper's reply while a large settlement runs: chat turns on the `chat` lane's worker,
measured quiet and then during a settlement of 10M sales on the `settle` lane's worker.

    python3 dev.py bench chat_during_settlement [--sales 10000000] [--turns 100] [--reuse]

`--reuse` keeps the data an earlier run built (settlement leaves its sales pending, so the
next run settles the same month again), to compare settings such as
SETTLEMENT_PARALLEL_WORKERS without rebuilding 10M sales.

Starts two real Celery workers as `dev.py run` does, one per lane (`-Q chat`, prefork ×2;
`-Q settle`, prefork ×1), on the bench database and the broker dev.py started. Builds one
placement of Rinna with a catalog and an offer (as `agents_turns`) and the settlement data of
`settlement_10m` (1,000 placements, every sale pending). Then:

1. quiet: `--turns` turns one after another (post, wait for the reply);
2. during settlement: a settlement run is requested through its task (queued on the `settle`
   lane, as the console's button and the beat do) and turns go on one after another until it
   is done.

Each turn's overhead is the time from the inbound message's row to its reply's row minus the
model's time (the offline engine's), as in `agents_turns`. Issue 16 asks that chat p95 stay
unchanged during a 10M settlement: the lanes keep the turns out of the settlement's queue; on
two cores they still share the CPU with PostgreSQL's settlement query.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from agents import services  # noqa: E402
from agents.models import Message  # noqa: E402
from benchmarks import agents_turns, processes  # noqa: E402
from benchmarks.fixtures import build_placements  # noqa: E402
from benchmarks.settlement_10m import PERIOD, generate  # noqa: E402
from contracts.models import Placement  # noqa: E402
from core.queue import enqueue  # noqa: E402
from revenue.models import Sale, SettlementRun  # noqa: E402

LOGS = ROOT / ".data" / "bench"


def one_turn(placement: Placement, n: int) -> int:
    text = agents_turns.QUESTIONS[n % len(agents_turns.QUESTIONS)]
    started = services.conversation_start(placement=placement, channel="widget", text=text)
    deadline = time.monotonic() + 120
    while not Message.objects.filter(reply_to=started.message).exists():
        if time.monotonic() > deadline:
            raise SystemExit("a chat turn waited 120 s for its reply")
        time.sleep(0.002)
    return started.message.pk


def overheads(message_ids: list[int]) -> list[float]:
    return [end - model for end, model in agents_turns.turn_figures(message_ids)]


def line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<34} {len(values):>6} turns   p50 {agents_turns.percentile(values, 50):7.1f} ms   "
        f"p95 {agents_turns.percentile(values, 95):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=10_000_000)
    parser.add_argument("--touchpoints", type=int, default=None, help="default: a tenth of --sales")
    parser.add_argument("--turns", type=int, default=100, help="quiet turns measured before the settlement")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run of the same size")
    args = parser.parse_args()
    touchpoints = args.touchpoints or max(1, args.sales // 10)
    call_command("migrate", verbosity=0)
    print(
        f"Chat during settlement: {args.sales:,} sales, {touchpoints:,} touchpoints, 1,000 placements "
        f"(machine: {os.cpu_count()} cores)"
    )
    chat_placement = Placement.objects.filter(partner__slug="bench-0").first() if args.reuse else None
    if chat_placement is not None and Sale.objects.filter(type="sale").count() == args.sales:
        print(f"  reusing the {args.sales:,} sales an earlier run built")
    else:
        chat_placement = agents_turns.reset()
        placements = build_placements(1_000, prefix="settle")
        processes.timed("generate data (not measured)", lambda: generate(args.sales, touchpoints, placements))
    print(f"  SETTLEMENT_PARALLEL_WORKERS: {settings.SETTLEMENT_PARALLEL_WORKERS}")

    chat = processes.start_worker(2, LOGS / "chat-worker.log", queues="chat")
    settle = processes.start_worker(1, LOGS / "settle-worker.log", queues="settle")
    try:
        processes.wait_worker_ready(settle, LOGS / "settle-worker.log")
        agents_turns.wait_ready(chat_placement, chat, LOGS / "chat-worker.log")

        quiet = overheads([one_turn(chat_placement, n) for n in range(args.turns)])

        run = SettlementRun.objects.create(period=PERIOD, trigger="command")
        requested = time.perf_counter()
        if not enqueue("revenue.tasks.settlement_run_task", run.pk):
            raise SystemExit("the broker refused the settlement task")
        during_ids = []
        while run.status != SettlementRun.Status.DONE:
            if settle.poll() is not None:
                raise SystemExit((LOGS / "settle-worker.log").read_text()[-4000:])
            during_ids.append(one_turn(chat_placement, len(during_ids)))
            run.refresh_from_db(fields=["status", "started_at", "finished_at", "attributed"])
            if run.status == SettlementRun.Status.FAILED:
                raise SystemExit(f"the settlement run failed: {(LOGS / 'settle-worker.log').read_text()[-4000:]}")
        waited = time.perf_counter() - requested
        during = overheads(during_ids)
    finally:
        processes.stop(chat)
        processes.stop(settle)

    ran = (run.finished_at - run.started_at).total_seconds()
    print(
        f"  settlement run on the settle lane: {ran:.1f} s ({waited:.1f} s from request to done), "
        f"{run.attributed:,} sales attributed"
    )
    print(line("chat overhead, quiet", quiet))
    print(line("chat overhead, during settlement", during))
    quiet95, during95 = agents_turns.percentile(quiet, 95), agents_turns.percentile(during, 95)
    print(f"\n  p95 during settlement / p95 quiet: {during95 / quiet95:.2f}× (target: unchanged, 1.00×)")


if __name__ == "__main__":
    main()
