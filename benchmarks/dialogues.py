"""The dialogue-quality benchmark: every scripted turn of agents/dialogues/*.json through
the public chat APIs (widget and members' API), with the offline engine, checked on each
criterion (agents.dialogue_suite).

    python3 dev.py bench dialogues [--failures] [--files agents/dialogues/x.json ...]
    DIALOGUES_ROOT=/elsewhere python3 dev.py bench dialogues   # a set kept outside the repository

Prints the pass rate per criterion, the reply latency (post → answered → read back, in
process: the worker's part is services.message_answer called as the worker would) and
the offline engine's own time per turn (the model calls' recorded latency). Everything it
writes is rolled back at the end, so the bench database is left as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from agents import dialogue_suite as suite  # noqa: E402
from agents import language  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--failures", action="store_true", help="print every failed check")
    parser.add_argument("--transcript", action="store_true", help="print every turn")
    parser.add_argument("--files", nargs="*", type=Path)
    parser.add_argument("--debug", action="store_true", help="log how each answer was chosen")
    args = parser.parse_args()
    if args.debug:
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("agents.workflows").setLevel(logging.DEBUG)
    call_command("migrate", verbosity=0)
    # The API is called in process, by Django's test client, whose host is "testserver".
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    language.warm()
    dialogues = suite.load_dialogues(args.files)
    with transaction.atomic():
        results = suite.run_suite(dialogues)
        transaction.set_rollback(True)
    table = suite.summary(results)
    languages = {"en": 0, "ja": 0}
    for r in results:
        languages["ja" if language.is_japanese(r.say) else "en"] += 1
    print(
        f"dialogues: {len(dialogues)} conversations, {len(results)} turns "
        f"({languages['en']} English, {languages['ja']} Japanese), offline engine"
    )
    print(f"  {'criterion':<12} {'passed':>7} {'turns':>6} {'rate':>7}")
    for criterion, (passed, total) in table.items():
        rate = f"{100 * passed / total:6.1f}%" if total else "     —"
        print(f"  {criterion:<12} {passed:>7} {total:>6} {rate}")
    whole = sum(1 for r in results if not r.failures)
    print(f"  {'every check':<12} {whole:>7} {len(results):>6} {100 * whole / max(1, len(results)):6.1f}%")
    latency = [r.latency_ms for r in results]
    engine = [r.engine_ms for r in results]
    turn = [r.turn_ms for r in results]
    print(
        f"  reply latency p50 / p95           {suite.percentile(latency, 50):7.1f} / "
        f"{suite.percentile(latency, 95):.1f} ms"
    )
    print(
        f"  turn processing p50 / p95         {suite.percentile(turn, 50):7.1f} / {suite.percentile(turn, 95):.1f} ms"
    )
    print(
        f"  offline engine p50 / p95 / max    {suite.percentile(engine, 50):7.1f} / "
        f"{suite.percentile(engine, 95):.1f} / {max(engine, default=0):.1f} ms"
    )
    if args.failures or args.transcript:
        for r in results:
            if r.failures or args.transcript:
                print(f"\n[{r.dialogue} #{r.turn}] {r.say}\n  -> {r.reply}")
                for failure in r.failures:
                    print(f"  !! {failure}")


if __name__ == "__main__":
    main()
