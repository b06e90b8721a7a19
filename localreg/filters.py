"""MongoDB-style filters compiled to SQL.

Supported operators: ``$and $or $nor $not $eq $ne $in $nin $gt $gte $lt
$lte $exists $regex $contains``. A plain value means ``$eq``. Fields are
declared by the caller as :class:`Field` objects: scalar columns compare
directly; multi-valued fields (tags, aliases) match when *any* value
matches, and the negative operators (``$ne``, ``$nin``, ``$not``, ``$nor``)
mean that *no* value matches, so a row without the field matches them, as
in MongoDB. ``metadata.<a>.<b>`` reads a
JSON path. Every value reaches SQLite as a bound parameter and every
field name is looked up in a fixed table, so no filter text becomes SQL.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidFilter
from .hashing import short_repr
from .names import is_version

COMPARE = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
NEGATIVE = {"$ne", "$nin"}
MAX_DEPTH = 32       # nested $and/$or/$nor/$not: deeper is refused, not a RecursionError
MAX_VALUES = 10_000  # bound values in one filter: SQLite caps them (32,766 on most builds)


@dataclass(frozen=True)
class Field:
    """``expr`` is a SQL expression over the row; for multi-valued fields it is
    the value column inside ``source`` (a ``FROM ... WHERE`` clause tied to the row)."""

    expr: str
    multi_source: str | None = None
    convert: Callable[[Any], Any] | None = None


def _to_time(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _to_version(value: Any) -> Any:
    if isinstance(value, str) and is_version(value):
        return int(value[1:])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidFilter(f"filter on 'version' needs values like 'v3', got {short_repr(value)}")


def time_field(expr: str) -> Field:
    return Field(expr, convert=_to_time)


def version_field(expr: str) -> Field:
    return Field(expr, convert=_to_version)


# characters JSON writes escaped: SQLite's path syntax would compare them with the escaped text
_ESCAPED = re.compile(r"[\x00-\x1f\x7f]")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_lookup(expr: str, key: str) -> str:
    """SQL reading ``metadata.<key>`` (dotted: nested) out of the JSON in ``expr``.

    Parts go into the SQL as string literals (quotes doubled), never as bound
    parameters, so the expression can appear twice in one test.
    """
    _utf8(key, key)
    parts = key.split(".")
    if any(p == "" for p in parts):
        raise InvalidFilter(f"invalid metadata key {key!r} in filter")
    if "\x00" in key:
        raise InvalidFilter(f"invalid metadata key {key!r} in filter: NUL characters are not allowed")
    if not any('"' in p or "\\" in p or _ESCAPED.search(p) for p in parts):
        path = "$" + "".join('."' + p + '"' for p in parts)
        return f"json_extract({expr}, {_sql_text(path)})"
    # SQLite's JSON path syntax cannot spell a key holding '"' (and reads '\\' and
    # control characters, which JSON stores escaped, differently across versions),
    # so walk such keys with json_each instead
    out = expr
    for i, p in enumerate(parts):
        only_objects = "" if i == len(parts) - 1 else f" AND j{i}.type = 'object'"
        out = f"(SELECT j{i}.value FROM json_each({out}) j{i} WHERE j{i}.key = {_sql_text(p)}{only_objects})"
    return out


def _utf8(value: str, key: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidFilter(f"filter on {key!r}: {value!r} is not valid Unicode (lone surrogates)") from None
    return value


def _balanced(parts: list[str], op: str) -> str:
    """``(a) op (b) op ...`` as a balanced tree: SQLite refuses expressions deeper than 1000."""
    if len(parts) == 1:
        return f"({parts[0]})"
    mid = len(parts) // 2
    return f"({_balanced(parts[:mid], op)} {op} {_balanced(parts[mid:], op)})"


class Compiler:
    def __init__(self, fields: Mapping[str, Field], metadata_expr: str | None = None) -> None:
        self.fields = fields
        self.metadata_expr = metadata_expr
        self.params: list[Any] = []
        self.depth = 0

    def compile(self, flt: Any) -> str:
        if flt is None or flt == {}:
            return "1"
        if not isinstance(flt, Mapping):
            raise InvalidFilter(f"a filter must be a dict, not {type(flt).__name__}")
        if self.depth >= MAX_DEPTH:
            raise InvalidFilter(f"filter nested deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return self._compile(flt)
        finally:
            self.depth -= 1

    def _compile(self, flt: Mapping) -> str:
        clauses = []
        for key, value in flt.items():
            if not isinstance(key, str):
                raise InvalidFilter(f"filter keys must be strings, got {short_repr(key)}")
            _utf8(key, key)
            if key in ("$and", "$or", "$nor"):
                if not isinstance(value, (list, tuple)) or not value:
                    raise InvalidFilter(f"{key} takes a non-empty list of filters")
                parts = [self.compile(v) for v in value]
                joined = _balanced(parts, "AND" if key == "$and" else "OR")
                # a test on a missing field is NULL; negated it must match, as in MongoDB
                clauses.append(f"NOT COALESCE(({joined}), 0)" if key == "$nor" else joined)
            elif key.startswith("$"):
                raise InvalidFilter(f"unknown top-level filter operator {key!r}")
            else:
                clauses.append(self.field(key, value))
        return " AND ".join(f"({c})" for c in clauses)

    def _resolve(self, key: str) -> Field:
        if key.startswith("metadata.") and self.metadata_expr:
            return Field(_json_lookup(self.metadata_expr, key[len("metadata."):]))
        f = self.fields.get(key)
        if f is None:
            known = ", ".join(sorted(self.fields) + (["metadata.<key>"] if self.metadata_expr else []))
            raise InvalidFilter(f"cannot filter on {key!r}; known fields: {known}")
        return f

    def field(self, key: str, cond: Any) -> str:
        if not isinstance(cond, Mapping) or not cond:
            cond = {"$eq": cond}
        if self.depth >= MAX_DEPTH:
            raise InvalidFilter(f"filter nested deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            parts = [self._op(key, op, value) for op, value in cond.items()]
        finally:
            self.depth -= 1
        return " AND ".join(f"({p})" for p in parts)

    def _op(self, key: str, op: str, value: Any) -> str:
        if op == "$not":
            if isinstance(value, Mapping):
                return f"NOT COALESCE(({self.field(key, value)}), 0)"
            raise InvalidFilter(f"$not on {key!r} takes an operator dict")
        if not isinstance(op, str):
            raise InvalidFilter(f"filter operators must be strings, got {short_repr(op)} on {key!r}")
        if op not in COMPARE and op not in ("$in", "$nin", "$exists", "$regex", "$contains"):
            raise InvalidFilter(f"unknown filter operator {op!r} on {key!r}")
        f = self._resolve(key)
        conv = f.convert or (lambda v: v)
        negative = op in NEGATIVE
        if op == "$exists":
            if not isinstance(value, bool):
                raise InvalidFilter(f"$exists on {key!r} takes true or false")
            if f.multi_source:
                test = f"EXISTS (SELECT 1 {f.multi_source})"
            else:
                test = f"{f.expr} IS NOT NULL"
            return test if value else f"NOT ({test})"
        if op in ("$in", "$nin"):
            if not isinstance(value, (list, tuple)):
                raise InvalidFilter(f"{op} on {key!r} takes a list")
            if not value:
                test = "0"
            else:
                if len(self.params) + len(value) > MAX_VALUES:
                    raise InvalidFilter(f"filter holds more than {MAX_VALUES} values")
                for v in value:
                    self.params.append(_param(conv(v), key))
                test = f"{f.expr} IN ({','.join('?' * len(value))})"
        elif op == "$regex":
            if not isinstance(value, str):
                raise InvalidFilter(f"$regex on {key!r} takes a string")
            try:
                re.compile(value)
            except re.error as e:
                # checked here: raised inside SQLite it would surface as sqlite3.OperationalError
                raise InvalidFilter(f"invalid regular expression {value!r} in $regex on {key!r}: {e}") from None
            self.params.append(_utf8(value, key))
            test = f"regexp(?, {f.expr})"
        elif op == "$contains":
            if not isinstance(value, str):
                raise InvalidFilter(f"$contains on {key!r} takes a string")
            self.params.append(_utf8(value, key))
            test = f"instr({f.expr}, ?) > 0"
        else:
            sql_op = COMPARE[op]
            v = conv(value)
            if v is None:
                test = f"{f.expr} IS NULL" if op == "$eq" else f"{f.expr} IS NOT NULL" if op == "$ne" else "0"
                negative = False
                if f.multi_source:
                    return f"EXISTS (SELECT 1 {f.multi_source} AND {test})" if op == "$eq" else f"NOT EXISTS (SELECT 1 {f.multi_source} AND {f.expr} IS NULL)"
                return test
            self.params.append(_param(v, key))
            test = f"{f.expr} {'=' if negative else sql_op} ?"
        if f.multi_source:
            exists = f"EXISTS (SELECT 1 {f.multi_source} AND {test})"
            return f"NOT {exists}" if negative else exists
        if negative:
            # as in MongoDB, a row without the field matches $ne and $nin
            return f"NOT ({test}) OR ({f.expr}) IS NULL"
        return test


def _param(value: Any, key: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        # SQLite integers are 64-bit; a bigger one compares as the REAL SQLite makes of it in JSON
        try:
            return float(value)
        except OverflowError:
            raise InvalidFilter(f"cannot compare {key!r} with {short_repr(value)}: the number is too large") from None
    if isinstance(value, str):
        return _utf8(value, key)
    if isinstance(value, (int, float)) or value is None:
        return value
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, sort_keys=True)
        except (TypeError, ValueError, RecursionError) as e:
            raise InvalidFilter(f"cannot compare {key!r} with {short_repr(value)}: {short_repr(e)}") from None
    raise InvalidFilter(f"cannot compare {key!r} with {type(value).__name__} {short_repr(value)}")


def compile_filter(flt: Any, fields: Mapping[str, Field], metadata_expr: str | None = None) -> tuple[str, list[Any]]:
    """``(sql, params)`` for ``flt``; raises :class:`InvalidFilter` naming the bad part."""
    c = Compiler(fields, metadata_expr)
    sql = c.compile(flt)
    if len(c.params) > MAX_VALUES:
        raise InvalidFilter(f"filter holds more than {MAX_VALUES} values")
    return sql, c.params
