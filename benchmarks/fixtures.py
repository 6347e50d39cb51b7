"""Shared set-up for benchmarks: partners, employees and active placements with accepted
contracts, built in bulk (the services would audit and notify a thousand times)."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from contracts.models import Contract, ContractVersion, Partner, Payee, Placement
from core.models import User
from employees.models import DigitalEmployee

TERMS = {
    "currency": "JPY",
    "period": "monthly",
    "share": {"model": "graduated", "tiers": [{"up_to": 1000000, "rate": "0.08"}, {"up_to": None, "rate": "0.05"}]},
    "outcome_fees": {"resolution": 90, "delivered_work": 50000},
    "minimum_per_period": 300000,
    "cap_per_period": None,
    "attribution": {"window_days": 14, "model": "last_touch", "keys": ["conversation_id", "click_id", "coupon_code"]},
    "hold_days": 30,
    "splits": [{"payee": "platform", "share": "0.70"}, {"payee": "studio-aoi", "share": "0.30"}],
}


def reset_revenue_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE revenue_sale, revenue_salekey, revenue_touchpoint, revenue_touchpointkey, revenue_outcome, "
            "revenue_outcomekey, revenue_statementline, "
            "revenue_statementsplit, revenue_statementadjustment, revenue_statement, revenue_settlementrun, "
            "revenue_journalline, revenue_journalentry, revenue_account, revenue_saleuploadrejection, "
            "revenue_saleupload, contracts_contractversion, contracts_contract, contracts_placementtransition, "
            "contracts_placement, contracts_partnerapikey, contracts_notification, contracts_partnermembership, "
            "contracts_partner, employees_digitalemployee RESTART IDENTITY CASCADE"
        )


def build_placements(
    count: int, *, per_partner: int = 100, prefix: str = "bench", effective_from: str = "2026-01-01"
) -> list[tuple[int, int]]:
    """`count` active placements; returns (placement id, partner id) pairs. `prefix` names
    the partners and employees, so one benchmark can build several groups."""
    Payee.objects.get_or_create(slug="platform", defaults={"name": "Platform", "kind": "platform"})
    Payee.objects.get_or_create(slug="studio-aoi", defaults={"name": "Studio Aoi", "kind": "studio"})
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"role": "account_manager"})
    partners_needed = max(1, -(-count // per_partner))
    partners = Partner.objects.bulk_create(
        Partner(
            slug=f"{prefix}-{i}",
            name=f"{prefix.title()} partner {i}",
            industry="convenience_retail",
            currency="JPY",
            timezone="Asia/Tokyo",
            account_manager=manager,
        )
        for i in range(partners_needed)
    )
    now = timezone.now()
    employees = DigitalEmployee.objects.bulk_create(
        DigitalEmployee(
            slug=f"{prefix}-emp-{i}",
            name=f"{prefix.title()} {i}",
            title="Coupon promoter",
            persona=".",
            resume=".",
            skills=["coupon_promoter"],
            languages=["ja"],
            industries=["convenience_retail"],
            built_by="Studio Aoi",
            status="published",
            published_at=now,
        )
        for i in range(per_partner)
    )
    placements = Placement.objects.bulk_create(
        Placement(
            partner=partners[i // per_partner],
            employee=employees[i % per_partner],
            status="active",
            requested_by=manager,
        )
        for i in range(count)
    )
    contracts = Contract.objects.bulk_create(Contract(placement=p, currency="JPY") for p in placements)
    ContractVersion.objects.bulk_create(
        ContractVersion(
            contract=c,
            number=1,
            terms=TERMS,
            effective_from=effective_from,
            status="accepted",
            created_by=manager,
            proposed_at=now,
            decided_by=manager,
            decided_at=now,
        )
        for c in contracts
    )
    return [(p.pk, p.partner_id) for p in placements]


# --- set-based generators: millions of rows with generate_series, never a row per round trip ---


def placements_table(placements: list[tuple[int, int]]) -> int:
    """A temp table `bench_placements (n, placement_id, partner_id)` numbering `placements`
    from 0, so generated rows pick one by `g % count`. A placement listed several times gets
    that many times the share of the rows."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_placements")
        cursor.execute("CREATE TEMP TABLE bench_placements (n int PRIMARY KEY, placement_id bigint, partner_id bigint)")
        cursor.execute(
            "INSERT INTO bench_placements SELECT g - 1, p, q FROM unnest(%s::bigint[], %s::bigint[]) "
            "WITH ORDINALITY AS u(p, q, g)",
            [[p for p, _ in placements], [q for _, q in placements]],
        )
    return len(placements)


def _placements_count() -> int:
    # A literal in the generators' joins, so the planner sees a plain hash join on n.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_placements")
        return cursor.fetchone()[0]


def generate_touchpoints(count: int, *, occurred_at: str) -> None:
    """`count` agent touchpoints keyed 'K<g>', kinds in turn coupon, click, conversation,
    touchpoint g on placement `g % len(bench_placements)`; `occurred_at` is an SQL
    expression of g."""
    placements = _placements_count()
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO revenue_touchpoint (partner_id, placement_id, kind, key, occurred_at, source, created_at)
            SELECT bp.partner_id, bp.placement_id, (ARRAY['coupon', 'click', 'conversation'])[1 + g % 3],
                   'K' || g, {occurred_at}, 'agent', now()
              FROM generate_series(0::bigint, {count - 1}) g
              JOIN bench_placements bp ON bp.n = g % {placements}
        """)


def generate_sales(
    count: int,
    *,
    touchpoint: str,
    occurred_at: str,
    period: str,
    keyed: str = "g % 10 < 7",
    external_id: str = "'S' || g",
) -> None:
    """`count` pending sales, all SQL expressions of g: sale g names touchpoint
    `touchpoint` (its partner is the touchpoint's) and carries that touchpoint's key in the
    matching column when `keyed`; the others carry no key."""
    placements = _placements_count()
    with connection.cursor() as cursor:
        # Keys first, as ingestion claims them (revenue_salekey, migration 0017): the sales'
        # trigger then finds every key claimed and writes none.
        cursor.execute(f"""
            CREATE TEMP TABLE bench_new_sales AS
            SELECT nextval('revenue_sale_id_seq') AS id, bp.partner_id, {external_id} AS external_id,
                   sale_at, 100 + (g * 7919) % 50000 AS amount,
                   CASE WHEN {keyed} AND t % 3 = 0 THEN 'K' || t END AS coupon_code,
                   CASE WHEN {keyed} AND t % 3 = 1 THEN 'K' || t END AS click_id,
                   CASE WHEN {keyed} AND t % 3 = 2 THEN 'K' || t END AS conversation_id,
                   {period} AS period, md5(g::text) AS digest
              FROM generate_series(0::bigint, {count - 1}) g
              CROSS JOIN LATERAL (SELECT {touchpoint} AS t, {occurred_at} AS sale_at) pick
              JOIN bench_placements bp ON bp.n = pick.t % {placements}
        """)
        cursor.execute(
            "INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period) "
            "SELECT partner_id, external_id, id, period FROM bench_new_sales"
        )
        cursor.execute("""
            INSERT INTO revenue_sale (id, partner_id, external_id, type, occurred_at, amount, currency,
                coupon_code, click_id, conversation_id, period, content_digest,
                received_at, attribution, attributed_key, attribution_note)
            SELECT id, partner_id, external_id, 'sale', sale_at, amount, 'JPY', coupon_code, click_id,
                   conversation_id, period, digest, now(), 'pending', '', ''
              FROM bench_new_sales
        """)
        cursor.execute("DROP TABLE bench_new_sales")
        cursor.execute("ANALYZE revenue_sale")
        cursor.execute("ANALYZE revenue_touchpoint")
