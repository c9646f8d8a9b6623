"""Guarded single-document writes that FerretDB 1.24 can answer by primary key.

A guarded write names its document and a condition: `{"_id": x, "version": 3}`, `{"_id": x, "online": True,
"last_seen_at": {"$gte": cutoff}}`. MongoDB finds the document by `_id` whatever else the filter says. FerretDB 1.24
(SQLite) only does so when the filter is exactly `{"_id": x}`: with any other condition beside it, it reads and
decodes the whole collection (measured here: 1.4 ms by `_id` alone, 400 ms with one more condition, 5,000 documents).
A heartbeat of one viewer among 10,000 would read all 10,000 attendance documents.

FerretDB 1.24 does not apply such a write atomically anyway (it reads the document, changes it in memory and writes
it back; see doclocks.py), so this module does the same in the open, under the caller's per-document lock: read the
document by `_id`, check the rest of the condition here (`matches`), and write by `_id` alone. The outcome is the
same as FerretDB's own, without the scan. On MongoDB nothing changes: the write goes out as it is, atomic on the
server (`ServerKind` asks the server once what it is).

`matches` knows the operators our guards use (equality with array membership, `$ne`, `$exists`, `$in`, `$nin`, `$lt`,
`$lte`, `$gt`, `$gte`, `$and`, `$or`, dotted paths through sub-documents); for anything else it answers None and the
write goes to the server unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_MISSING = object()


class _Unsupported(Exception):
    pass


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool | None:
    """Whether `doc` satisfies `query` as MongoDB would decide it; None when the query uses something this
    matcher does not know (the caller then lets the server decide)."""
    try:
        return _all(doc, query)
    except _Unsupported:
        return None


def _all(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(_all(doc, q) for q in _clauses(condition)):
                return False
        elif key == "$or":
            if not any(_all(doc, q) for q in _clauses(condition)):
                return False
        elif key.startswith("$"):
            raise _Unsupported(key)
        elif not _field(_resolve(doc, key), condition):
            return False
    return True


def _clauses(condition: Any) -> list[Mapping[str, Any]]:
    if not isinstance(condition, list) or not all(isinstance(q, Mapping) for q in condition):
        raise _Unsupported("a malformed $and/$or")
    return condition


def _resolve(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list):
            if part.isdigit():  # `queue.0`: an array position
                index = int(part)
                value = value[index] if index < len(value) else _MISSING
            else:
                raise _Unsupported(f"a path through an array: {path}")
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _is_operators(condition: Any) -> bool:
    return isinstance(condition, Mapping) and bool(condition) and all(str(k).startswith("$") for k in condition)


def _field(value: Any, condition: Any) -> bool:
    if not _is_operators(condition):
        return _equals(value, condition)
    for op, operand in condition.items():
        if op == "$eq":
            ok = _equals(value, operand)
        elif op == "$ne":
            ok = not _equals(value, operand)
        elif op == "$exists":
            ok = (value is not _MISSING) == bool(operand)
        elif op == "$in":
            ok = any(_equals(value, item) for item in _list(operand))
        elif op == "$nin":
            ok = not any(_equals(value, item) for item in _list(operand))
        elif op in ("$lt", "$lte", "$gt", "$gte"):
            ok = _compare(value, op, operand)
        else:
            raise _Unsupported(op)
        if not ok:
            return False
    return True


def _list(operand: Any) -> list[Any]:
    if not isinstance(operand, list):
        raise _Unsupported("$in/$nin without a list")
    return operand


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        raise _Unsupported("comparing sub-documents")  # key order matters to MongoDB
    if isinstance(b, re.Pattern) or type(b).__name__ == "Regex":
        raise _Unsupported("a regular expression")
    if _number(a) and _number(b):
        return bool(a == b)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return _utc(a) == _utc(b)
    return type(a) is type(b) and bool(a == b)


def _equals(value: Any, wanted: Any) -> bool:
    """MongoDB equality: a missing field equals null; an array field matches a wanted element or the whole array."""
    if value is _MISSING:
        return wanted is None
    if isinstance(wanted, list) or isinstance(value, list):
        if isinstance(value, list) and not isinstance(wanted, list):
            return any(_same(item, wanted) for item in value)
        if isinstance(value, list) and isinstance(wanted, list):
            return len(value) == len(wanted) and all(_same(a, b) for a, b in zip(value, wanted, strict=True))
        return False
    if wanted is None:
        return value is None
    return _same(value, wanted)


def _compare(value: Any, op: str, operand: Any) -> bool:
    if value is _MISSING or value is None or operand is None or isinstance(value, list):
        if isinstance(value, list):
            raise _Unsupported("a range condition on an array")
        return False
    if isinstance(value, datetime) and isinstance(operand, datetime):
        a, b = _utc(value), _utc(operand)
    elif (_number(value) and _number(operand)) or (isinstance(value, str) and isinstance(operand, str)):
        a, b = value, operand
    else:
        return False  # MongoDB compares within one type bracket only
    if op == "$lt":
        return bool(a < b)
    if op == "$lte":
        return bool(a <= b)
    if op == "$gt":
        return bool(a > b)
    return bool(a >= b)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- the writes -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotMatched:
    """What `update_one` answers when the guard did not hold (the shape of pymongo's UpdateResult)."""

    matched_count: int = 0
    modified_count: int = 0
    upserted_id: Any = None
    acknowledged: bool = True


class ServerKind:
    """Whether the database behind a handle is FerretDB (asked once, then remembered). `force` decides without
    asking (tests)."""

    def __init__(self, db: Any, *, force: bool | None = None) -> None:
        self._db = db
        self._ferretdb = force

    async def is_ferretdb(self) -> bool:
        if self._ferretdb is None:
            try:
                info = await self._db.command("buildInfo")
            except Exception:  # the in-memory twin has no buildInfo; a server we cannot ask gets its writes as is
                return False
            self._ferretdb = "ferretdbVersion" in info
        return self._ferretdb


def split_guard(filter: Any, kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """(`_id`, the rest of the condition) for a guarded write this module can answer by `_id`; None otherwise."""
    if not isinstance(filter, dict) or kwargs.get("upsert") or kwargs.get("array_filters") is not None:
        return None
    key = filter.get("_id")
    if not isinstance(key, str | int | bytes) or len(filter) == 1:
        return None
    return key, {k: v for k, v in filter.items() if k != "_id"}


AS_SENT, FAILED = object(), object()


async def check_by_id(collection: Any, kind: ServerKind, filter: Any, kwargs: Mapping[str, Any]) -> Any:
    """Decide a guarded write by `_id`: the document's `_id` when its condition holds (write by `_id` alone),
    FAILED when it does not (or the document is gone), AS_SENT when the write must go to the server as it is
    (MongoDB, no guard beside the `_id`, an upsert, a condition `matches` does not know)."""
    split = split_guard(filter, kwargs)
    if split is None or not await kind.is_ferretdb():
        return AS_SENT
    key, rest = split
    current = await collection.find_one({"_id": key})
    verdict = False if current is None else matches(current, rest)
    return AS_SENT if verdict is None else key if verdict else FAILED


async def update_one(collection: Any, kind: ServerKind, filter: Any, update: Any, **kwargs: Any) -> Any:
    """`collection.update_one`, answered by `_id` on FerretDB. Call it holding the document's lock."""
    key = await check_by_id(collection, kind, filter, kwargs)
    if key is FAILED:
        return NotMatched()
    return await collection.update_one(filter if key is AS_SENT else {"_id": key}, update, **kwargs)


@dataclass(frozen=True)
class NotDeleted:
    """What `delete_one` answers when the guard did not hold (the shape of pymongo's DeleteResult)."""

    deleted_count: int = 0
    acknowledged: bool = True


async def delete_one(collection: Any, kind: ServerKind, filter: Any, **kwargs: Any) -> Any:
    """`collection.delete_one`, answered by `_id` on FerretDB. Call it holding the document's lock."""
    key = await check_by_id(collection, kind, filter, kwargs)
    if key is FAILED:
        return NotDeleted()
    return await collection.delete_one(filter if key is AS_SENT else {"_id": key}, **kwargs)


async def find_one_and_update(collection: Any, kind: ServerKind, filter: Any, update: Any, **kwargs: Any) -> Any:
    """`collection.find_one_and_update`, answered by `_id` on FerretDB. Call it holding the document's lock."""
    key = await check_by_id(collection, kind, filter, kwargs)
    if key is FAILED:
        return None
    return await collection.find_one_and_update(filter if key is AS_SENT else {"_id": key}, update, **kwargs)
