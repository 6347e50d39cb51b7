"""Settings of the current transaction for a few statements, put back afterwards; several
ORM writes sent as one statement; many rows' fields updated by one statement; fixed-shape
reads compiled once (CompiledQuery)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable
from django.db.models.sql import InsertQuery, UpdateQuery
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

Statement = tuple[str, Sequence[Any]]


@contextmanager
def transaction_settings(cursor: Any, **settings: str) -> Iterator[None]:
    """Give the statements inside these settings (e.g. enable_nestloop="off"), then put back
    what was in force. `SET LOCAL` alone lasts to the end of the transaction, and a service may
    run inside a caller's (a settlement run, a test): its later statements would be planned
    without nested loops too — over a table partitioned by month, as parallel hash joins of
    every partition. On an error nothing is put back here: the savepoint's rollback does it."""
    if not settings:
        yield
        return
    # One statement to set them all and one to put them back, whatever their number (each
    # round trip waits for a core on a loaded machine). A select list is evaluated left to
    # right, so each setting is read before it is set. missing_ok: a custom setting (haken.*)
    # is unknown to a session until first set; it reads NULL then, and set_config(name, NULL)
    # puts it back to its default ('').
    names = list(settings)
    cursor.execute(
        "SELECT " + ", ".join(["current_setting(%s, true), set_config(%s, %s, true)"] * len(names)),
        [param for name in names for param in (name, name, settings[name])],
    )
    row = cursor.fetchone()
    previous = {name: row[2 * position] for position, name in enumerate(names)}
    yield
    cursor.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
        [param for name in names for param in (name, previous[name])],
    )


def update_statement(queryset: QuerySet[Any], **values: Any) -> Statement:
    """The UPDATE `queryset.update(**values)` would send, not sent."""
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    query.annotations = {}
    sql, params = query.get_compiler(DEFAULT_DB_ALIAS).as_sql()
    return sql, params


def insert_statement(objs: Sequence[Model], *, returning: bool = False) -> Statement:
    """The INSERT that save() (one new object) or bulk_create() (several, of one model) would
    send, not sent; `returning`: with the columns save() reads back (the id)."""
    meta = type(objs[0])._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    query = InsertQuery(type(objs[0]))
    query.insert_values(fields, list(objs))
    compiler = query.get_compiler(DEFAULT_DB_ALIAS)
    compiler.returning_fields = meta.db_returning_fields if returning else None
    ((sql, params),) = compiler.as_sql()
    return sql, params


def writes_send(writes: Sequence[Statement], last: Statement) -> list[tuple[Any, ...]]:
    """Send `writes` and `last` as one statement (one round trip instead of one each): each
    of `writes` as a data-modifying WITH query, `last` as the main one; return the rows
    `last` returns. They all run on one snapshot, so none sees another's changes: only for
    writes that do not read or change each other's rows (constraints are checked as usual)."""
    sql = "WITH " + ", ".join(f"w{n} AS ({text})" for n, (text, _) in enumerate(writes)) + " " + last[0]
    params = [param for _, write_params in writes for param in write_params] + list(last[1])
    with connection.cursor() as cursor:
        cursor.execute(sql if writes else last[0], params)
        return cursor.fetchall() if cursor.description else []


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)  # as text, read back by the column's numeric type exactly
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write `fields` of each of `objs` (saved rows of one model) in one UPDATE, the values
    sent as one JSON text read by json_to_recordset; return the rows updated. bulk_update
    writes a CASE WHEN per row and field instead, which Django compiles and PostgreSQL parses
    value by value: about 3 s for a settlement's 1,000 re-computed statements of 18 fields."""
    if not objs:
        return 0
    meta = type(objs[0])._meta
    columns: list[Any] = [meta.pk, *(meta.get_field(name) for name in fields)]
    rows = [
        {field.column: field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns}
        for obj in objs
    ]
    quote = connection.ops.quote_name
    table, key = quote(meta.db_table), quote(columns[0].column)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    record = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in columns)
    # Table, column names and types come from the model's meta, quoted; the values are a parameter.
    sql = (
        f"UPDATE {table} SET {assignments} FROM json_to_recordset(%s::json) AS v({record}) "  # noqa: S608
        f"WHERE {table}.{key} = v.{key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [orjson.dumps(rows, default=_json_default).decode()])
        return int(cursor.rowcount)


class CompiledQuery(Generic[M]):
    """A fixed-shape ORM read whose SQL is compiled once per process and database, and then
    only sent with each call's values: `build(**sentinels)` gives the queryset (a lookup such
    as `filter(pk=message_id)`), the sentinels stand for the values that change from call to
    call. Rows become model instances (select_related, annotations) as the queryset's own
    iteration makes them.

    Why: building and compiling a queryset costs Python time on every call (the chat turn's
    lock, a join of five tables with three subqueries: about 2 ms a turn, as long as the
    database takes to run it), and its SQL never changes. Only for querysets whose SQL does
    not depend on the values (no `__in` lists, no None that becomes IS NULL): each sentinel
    must reach the parameters unchanged, which the first compile checks."""

    def __init__(self, build: Callable[..., QuerySet[M]], **sentinels: Any) -> None:
        self._build = build
        self._sentinels = sentinels
        self._compiled: dict[str, tuple[QuerySet[M], SQLCompiler, str, list[Any], dict[str, list[int]]]] = {}

    def _compile(self, alias: str) -> tuple[QuerySet[M], SQLCompiler, str, list[Any], dict[str, list[int]]]:
        queryset = self._build(**self._sentinels).using(alias)
        compiler = queryset.query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet as error:  # the values made the SQL, not its parameters
            raise ValueError(f"the sentinels {self._sentinels} do not reach the parameters: no SQL") from error
        positions = {
            name: [n for n, param in enumerate(params) if type(param) is type(value) and param == value]
            for name, value in self._sentinels.items()
        }
        for name, slots in positions.items():
            if not slots or str(self._sentinels[name]) in sql:
                raise ValueError(f"{name}'s sentinel does not reach the parameters alone: {sql}")
        entry = (queryset, compiler, sql, list(params), positions)
        self._compiled[alias] = entry
        return entry

    def all(self, *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[M]:
        queryset, compiler, sql, params, positions = self._compiled.get(using) or self._compile(using)
        if queryset.query.select_for_update and not connections[using].in_atomic_block:
            # As the queryset itself refuses (the lock would end with the statement).
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        bound = list(params)
        for name, slots in positions.items():
            for slot in slots:
                bound[slot] = values[name]
        run = copy.copy(compiler)
        # This thread's connection (the compiled one may be another thread's), and the SQL as
        # compiled: execute_sql takes it from as_sql, and the select, klass_info and
        # annotation map the first compile set up are what turns the rows into instances.
        run.connection = connections[using]
        run.as_sql = lambda *_args, **_kwargs: (sql, bound)  # type: ignore[method-assign,assignment]
        return list(ModelIterable(cast(QuerySet[M], _Compiled(queryset, run))))


class _Compiled:
    """What ModelIterable reads of a queryset, with the compiler already made."""

    def __init__(self, queryset: QuerySet[Any], compiler: SQLCompiler) -> None:
        self.db = queryset.db
        self.model = queryset.model
        self._known_related_objects: dict[Any, Any] = {}
        self._compiler = compiler
        self.query = self

    def get_compiler(self, using: str | None = None, **_kwargs: Any) -> SQLCompiler:
        return self._compiler
