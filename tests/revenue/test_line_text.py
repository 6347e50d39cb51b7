"""Statement lines are stored with settlement's English sentence; the pages say it in the
reader's language (revenue/line_text.py), English exactly as stored."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from revenue.line_text import line_description
from tests.support.payments import connect_payees, october_statement, placement_with_coupons

OCT = date(2026, 10, 1)

# (kind, stored sentence, its Japanese)
STORED = [
    ("attributed_sales", "Attributed sales in October 2026", "2026年10月の帰属売上"),
    ("late_sales", "Late sales from periods already approved", "承認済み期間からの遅延売上"),
    ("refunds", "Refunds of sales not yet settled", "未精算の売上の返金"),
    (
        "share",
        "Revenue share (graduated) of the period's net revenue",
        "期間の純売上に対するレベニューシェア（段階累進）",
    ),
    ("outcome_fee", "Outcome fees: 3 × resolution", "成果報酬：解決した会話 × 3件"),
    ("minimum_top_up", "Top-up to the minimum wage for the period", "期間の最低報酬までの補填"),
    ("cap", "Reduction to the cap for the period", "期間の上限までの減額"),
    (
        "clawback",
        "Clawback: 2 refund(s) of sales on approved statements, at their effective rates",
        "クローバック：承認済み明細書の売上の返金 2件（各明細書の実効料率で計算）",
    ),
    (
        "outcome_clawback",
        "Outcome clawback: 1 withdrawn delivered work(s) already settled, at their fee",
        "成果のクローバック：精算済みで取り下げられた納品した制作物 1件（その報酬額で計算）",
    ),
    ("carried_credit", "Credit carried forward from the previous period", "前期間からの繰越クレジット"),
    ("adjustment", "Finance adjustment: goodwill for store 7", "経理による調整：goodwill for store 7"),
]


@pytest.mark.parametrize(("kind", "stored", "japanese"), STORED)
def test_each_stored_sentence_reads_as_stored_in_english_and_is_said_in_japanese(kind, stored, japanese):
    with translation.override("en"):
        assert line_description(kind=kind, description=stored, period=OCT) == stored
    with translation.override("ja"):
        assert line_description(kind=kind, description=stored, period=OCT) == japanese


def test_a_sentence_of_another_wording_is_shown_as_stored():
    with translation.override("ja"):
        assert line_description(kind="share", description="Share, old wording", period=OCT) == "Share, old wording"
        assert line_description(kind="unknown", description="Anything", period=OCT) == "Anything"


def test_the_lines_settlement_writes_today_all_match_a_pattern(world):
    # given a statement settled by the real services (attributed sales, share, minimum top-up)
    connect_payees(None)
    statement = october_statement(world, placement_with_coupons(world))
    lines = list(statement.lines.all())
    assert {line.kind for line in lines} >= {"attributed_sales", "share", "minimum_top_up"}
    for line in lines:
        # then English reads each one exactly as stored, and Japanese says each one anew
        with translation.override("en"):
            assert line_description(kind=line.kind, description=line.description, period=statement.period) == (
                line.description
            )
        with translation.override("ja"):
            said = line_description(kind=line.kind, description=line.description, period=statement.period)
            assert said != line.description, line.description
