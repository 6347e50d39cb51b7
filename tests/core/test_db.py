"""core.db.transaction_settings: settings for a few statements, put back afterwards;
several ORM writes sent as one statement (update_statement, insert_statement, writes_send);
many rows' fields written by one UPDATE (rows_update); and a fixed-shape read compiled once
(CompiledQuery)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from core.db import CompiledQuery, insert_statement, rows_update, transaction_settings, update_statement, writes_send
from core.models import AuditLog, User
from revenue.models import Statement
from tests.support.factories import StatementFactory, UserFactory


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_settings_hold_inside_and_are_put_back_after():
    # given the session's settings
    before = (_setting("enable_nestloop"), _setting("work_mem"))
    assert before[0] == "on"
    assert before[1] != "256MB"
    # when statements run inside the block
    with transaction.atomic(), connection.cursor() as cursor:
        with transaction_settings(cursor, enable_nestloop="off", work_mem="256MB"):
            inside = (_setting("enable_nestloop"), _setting("work_mem"))
        after = (_setting("enable_nestloop"), _setting("work_mem"))
    # then they had the settings, and the rest of the transaction has the defaults again
    assert inside == ("off", "256MB")
    assert after == before


@pytest.mark.django_db
def test_several_settings_are_set_in_one_statement_and_put_back_in_one(django_assert_num_queries):
    # given a custom setting set earlier in the transaction and the session's default work_mem
    name = "haken.test_db_two_settings"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'earlier', true)", [name])
        before = _setting("work_mem")
        assert before != "64MB"
        # when a block changes both
        with transaction_settings(cursor, work_mem="64MB", **{name: "on"}):
            inside = (_setting("work_mem"), _setting(name))
        after = (_setting("work_mem"), _setting(name))
        # and another runs nothing inside (a cursor of its own: one made before the count is not counted)
        with (
            django_assert_num_queries(2),
            connection.cursor() as counted,
            transaction_settings(counted, work_mem="64MB", **{name: "on"}),
        ):
            pass
        again = (_setting("work_mem"), _setting(name))
    # then the statements inside had both, and each is put back to what it was before it;
    # one statement set both and one put both back
    assert inside == ("64MB", "on")
    assert after == again == (before, "earlier")


@pytest.mark.django_db
def test_an_error_inside_leaves_the_settings_to_the_savepoint_s_rollback():
    # when the block fails inside an atomic block of the caller's transaction
    with transaction.atomic():
        with (
            pytest.raises(ZeroDivisionError),
            transaction.atomic(),
            connection.cursor() as cursor,
            transaction_settings(cursor, enable_nestloop="off"),
        ):
            1 / 0  # noqa: B018
        # then the rolled-back savepoint took the setting with it
        assert _setting("enable_nestloop") == "on"


@pytest.mark.django_db
def test_a_custom_setting_the_session_never_had_is_put_back_to_unset():
    # given a custom setting no statement of this session has set
    name = "haken.test_db_unset_setting"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        assert cursor.fetchone()[0] is None
    # when statements run inside the block
    with transaction.atomic(), connection.cursor() as cursor:
        with transaction_settings(cursor, **{name: "on"}):
            inside = _setting(name)
        after = _setting(name)
    # then they had it, and the rest of the transaction reads it empty (unset) again
    assert (inside, after) == ("on", "")


@pytest.mark.django_db
def test_writes_sent_as_one_statement_do_what_each_would_have_done(django_assert_num_queries):
    # given a user
    user = User.objects.create(username="ayaka", email="old@example.com")
    entries = [AuditLog(action="user.note", summary=f"note {n}", target=user) for n in range(2)]
    last = AuditLog(action="user.change", summary="email changed", actor=user, target=user)
    # when an update, a bulk insert and an insert that returns its id go in one statement
    with django_assert_num_queries(1):
        rows = writes_send(
            [
                update_statement(User.objects.filter(pk=user.pk), email="new@example.com"),
                insert_statement(entries),
            ],
            insert_statement([last], returning=True),
        )
    # then each was done, and the last one's id came back
    ((last_id,),) = rows
    user.refresh_from_db()
    assert user.email == "new@example.com"
    assert list(AuditLog.objects.order_by("summary").values_list("action", "summary", "actor_id")) == [
        ("user.change", "email changed", user.pk),
        ("user.note", "note 0", None),
        ("user.note", "note 1", None),
    ]
    assert AuditLog.objects.get(pk=last_id).action == "user.change"


@pytest.mark.django_db
def test_rows_update_writes_each_rows_fields_exactly_in_one_statement(django_assert_num_queries):
    # given three stored statements, and a fourth that is not updated
    statements = StatementFactory.create_batch(3)
    untouched = StatementFactory(net=5)
    reviewer = UserFactory()
    values = [
        # the numeric(72, 70) rate's smallest step, a value str() writes with an exponent
        (
            Decimal("1E-70"),
            9_223_372_036_854_775_807,
            datetime(2026, 12, 8, 3, 4, 5, 678_901, tzinfo=UTC),
            reviewer,
        ),
        (Decimal("0.1234567890123456789012345678901234567890"), -1, None, None),
        (Decimal("0"), 0, datetime(1999, 1, 1, tzinfo=UTC), reviewer),
    ]
    for statement, (rate, net, submitted_at, submitted_by) in zip(statements, values, strict=True):
        statement.effective_rate, statement.net = rate, net
        statement.submitted_at, statement.submitted_by = submitted_at, submitted_by
        statement.status = Statement.Status.IN_REVIEW
    # when their fields are written together
    with django_assert_num_queries(1):
        updated = rows_update(statements, ["effective_rate", "net", "submitted_at", "submitted_by", "status"])
    # then each row holds exactly its own values, and no other row changed
    assert updated == 3
    stored = {s.pk: s for s in Statement.objects.all()}
    for statement, (rate, net, submitted_at, submitted_by) in zip(statements, values, strict=True):
        row = stored[statement.pk]
        assert (row.effective_rate, row.net, row.submitted_at, row.submitted_by_id, row.status) == (
            rate,
            net,
            submitted_at,
            submitted_by.pk if submitted_by else None,
            "in_review",
        )
    assert stored[untouched.pk].net == 5
    assert stored[untouched.pk].status == "draft"
    assert rows_update([], ["net"]) == 0


def _entries_of(user_id: int):
    return (
        AuditLog.objects.select_related("actor")
        .annotate(actor_entries=Count("actor__audit_entries"))
        .filter(actor_id=user_id, action="user.note")
        .order_by("summary")
    )


@pytest.mark.django_db
def test_a_compiled_query_answers_each_call_with_its_own_values_as_the_queryset_would():
    # given two users with notes, and a read of one user's notes compiled once
    ayaka = User.objects.create(username="ayaka")
    kenji = User.objects.create(username="kenji")
    for user, count in ((ayaka, 2), (kenji, 1)):
        for n in range(count):
            AuditLog.objects.create(action="user.note", summary=f"{user.username} {n}", actor=user, target=user)
    notes = CompiledQuery(_entries_of, user_id=-5_550_001)
    # when it is called for each user in turn
    with CaptureQueriesContext(connection) as queries:
        first = notes.all(user_id=ayaka.pk)
        second = notes.all(user_id=kenji.pk)
    # then each call has its own rows, with the related rows and the annotation filled in,
    # exactly as the queryset gives them, one statement a call, compiled once
    for rows, user in ((first, ayaka), (second, kenji)):
        expected = list(_entries_of(user.pk))
        assert [(e.pk, e.summary, e.actor.username, e.actor_entries) for e in rows] == [
            (e.pk, e.summary, e.actor.username, e.actor_entries) for e in expected
        ]
    assert [(e.summary, e.actor_entries) for e in first] == [("ayaka 0", 2), ("ayaka 1", 2)]
    assert [(e.summary, e.actor_entries) for e in second] == [("kenji 0", 1)]
    assert len(queries) == 2
    assert list(notes._compiled) == ["default"]  # compiled once


@pytest.mark.django_db
def test_a_value_the_sql_does_not_take_as_a_parameter_is_refused_at_the_first_compile():
    # given a read whose value becomes part of the SQL itself (an empty list: no rows at all)
    empty = CompiledQuery(lambda ids: User.objects.filter(pk__in=ids), ids=[])
    # when it is compiled, then it refuses rather than send the first call's SQL for every call
    with pytest.raises(ValueError, match="sentinel"):
        empty.all(ids=[1])
    # and so is one that is written into the SQL instead of passed beside it
    inlined = CompiledQuery(lambda user_id: User.objects.extra(where=[f"id = {user_id}"]), user_id=-5_550_003)
    with pytest.raises(ValueError, match="sentinel"):
        inlined.all(user_id=1)
