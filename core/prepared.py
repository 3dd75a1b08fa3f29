"""The few queries every API request makes, compiled to SQL once and then only executed.

Django compiles a queryset to SQL each time it is evaluated. For the queries on every API call
(the token with its user and roles, the consent notices with the holder's state rows, the audit
events that bind them) compiling the subqueries costs a millisecond or more of Python: many times
what the database takes to answer, and most of what such a request costs.

A PreparedQuery builds its queryset once per database connection, with a placeholder value for
each parameter, and remembers the SQL, where each placeholder landed among the parameters and the
converters Django applies to each column. After that it only swaps the values in and executes.
The queryset stays the definition (ORM, portable across SQLite and PostgreSQL); a placeholder that
never lands among the parameters is refused when the query is first compiled.

Keyword arguments that are not declared parameters are part of the query's shape (a list of
purposes, how many ids): each shape is compiled once, so they must be hashable and few.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import QuerySet


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: dict[str, list[list[int]]]  # parameter name -> per value, its positions among params
    names: list[str]
    compiler: object
    converters: dict


def _placeholder(field: models.Field, serial: int):
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.IntegerField):
        return -(2**62) - serial  # far outside any id or count this service stores
    if isinstance(field, models.CharField | models.TextField):
        return f"\x00prepared-parameter-{serial}-{uuid.uuid4().hex}\x00"
    raise TypeError(f"no placeholder for a {type(field).__name__} parameter")


def _same(param, value) -> bool:
    """`param` is the placeholder `value` as the query holds it. An integer may come back wrapped
    (psycopg's Int8 for a BigIntegerField compared with an id): still the same placeholder."""
    if type(param) is type(value):
        return param == value
    return isinstance(param, int) and isinstance(value, int) and not isinstance(param, bool) and param == value


def _db_value(field: models.Field, value, connection):
    return field.get_db_prep_value(field.get_prep_value(value), connection, prepared=True)


class PreparedQuery:
    """`build(**params, **shape)` returns a values() queryset; `rows(**params, **shape)` runs it.

    `params` declares each parameter by the model field it is compared with (its values are
    prepared for the database as that field prepares them); a parameter declared as a tuple
    `(field,)` takes a sequence of values (its length is part of the shape).
    """

    def __init__(self, build: Callable[..., QuerySet], **params: models.Field | tuple[models.Field]):
        self._build = build
        # A foreign key's values are those of the field it points at.
        self._params = {
            name: (tuple(getattr(f, "target_field", f) for f in declared) if isinstance(declared, tuple)
                   else getattr(declared, "target_field", declared))
            for name, declared in params.items()
        }
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _compile(self, connection, shape: dict, lengths: dict[str, int]) -> _Compiled:
        placeholders, expected = {}, {}
        serial = 0
        for name, declared in self._params.items():
            field = declared[0] if isinstance(declared, tuple) else declared
            values = []
            for _ in range(lengths[name] if isinstance(declared, tuple) else 1):
                serial += 1
                values.append(_placeholder(field, serial))
            placeholders[name] = values if isinstance(declared, tuple) else values[0]
            expected[name] = [_db_value(field, v, connection) for v in values]
        queryset = self._build(**placeholders, **shape)
        query = queryset.query
        compiler = query.get_compiler(connection=connection)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # the shape matches nothing (an empty list of purposes): no query at all
            return _Compiled(sql="", params=(), slots={}, names=[], compiler=compiler, converters={})
        slots = {}
        for name, values in expected.items():
            slots[name] = []
            for value in values:
                where = [i for i, p in enumerate(params) if _same(p, value)]
                if not where:
                    raise ValueError(f"prepared query: parameter {name!r} does not reach the SQL")
                slots[name].append(where)
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        selected = [s[0] for s in compiler.select[: compiler.col_count]]
        return _Compiled(sql=sql, params=tuple(params), slots=slots, names=names, compiler=compiler,
                         converters=compiler.get_converters(selected))

    def rows(self, *, using: str = "default", **kwargs) -> list[dict]:
        connection = connections[using]
        values = {name: kwargs.pop(name) for name in self._params}
        lengths = {name: len(values[name]) for name, declared in self._params.items() if isinstance(declared, tuple)}
        key = (tuple(sorted(kwargs.items())), tuple(sorted(lengths.items())))
        by_shape = self._compiled.setdefault(connection, {})
        compiled = by_shape.get(key)
        if compiled is None:
            compiled = by_shape[key] = self._compile(connection, kwargs, lengths)
        if not compiled.sql:
            return []
        params = list(compiled.params)
        for name, declared in self._params.items():
            field = declared[0] if isinstance(declared, tuple) else declared
            given = values[name] if isinstance(declared, tuple) else [values[name]]
            for positions, value in zip(compiled.slots[name], given, strict=True):
                db_value = _db_value(field, value, connection)
                for position in positions:
                    params[position] = db_value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        return [dict(zip(compiled.names, row, strict=True)) for row in rows]


def instance(model: type[models.Model], row: dict, prefix: str = "", using: str = "default") -> models.Model:
    """A model instance from the row's values of its concrete fields (named `prefix + attname`)."""
    names = [f.attname for f in model._meta.concrete_fields]
    return model.from_db(using, names, [row[prefix + n] for n in names])


def field_names(model: type[models.Model], prefix: str = "") -> list[str]:
    """The values() names of the model's concrete fields (through a relation when `prefix` is given)."""
    return [prefix + f.attname for f in model._meta.concrete_fields]
