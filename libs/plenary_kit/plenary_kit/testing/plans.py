"""Which queries a repository runs, and whether the server answers each one from an index.

Two halves, for tests:

- `QueryRecorder` wraps the database (or one collection) a repository is given and records every query it
  issues: the collection, the operation, the filter, the sort and the repository method that ran it
  (`find`, `find_one`, `count_documents`, `distinct`, `update_*`, `replace_one`, `delete_*`, `find_one_and_*`,
  `aggregate`'s leading `$match`/`$sort`, and the filters inside `bulk_write`). Everything else passes through.
- `scans(db, queries)` asks the real server to `explain` each distinct query shape and returns those whose plan
  reads the whole collection. Every shape is explained as a `find` with its filter and sort: an update, a delete
  or a count selects its documents exactly as a find with the same filter does, and an aggregation whose first
  stage is `$match` starts as that find.

A collection scan is recognised in both plan dialects: MongoDB's (a `COLLSCAN` stage) and that of FerretDB 2 on
DocumentDB, which passes PostgreSQL's plan through (`queryPlanner.Plan`, EXPLAIN's JSON). There a query no index
serves shows either a `Seq Scan` on the collection's table or, as often, a `Bitmap Index Scan` of the primary key
`_id_` whose only condition is `shard_key_value = N`: that key leads with the collection's one shard key value,
so the scan returns every document. A served query shows an `Index Scan` of `_id_` on `object_id`, or a
(`Bitmap`) `Index Scan` of one of the collection's own indexes.

PostgreSQL picks a sequential scan for a table of a few pages whatever its indexes, so an explain on the handful
of documents a test writes proves nothing. `fill(db, names)` first makes each queried collection large: it
copies the documents the repository itself wrote (so the copies have the real shape and every indexed field)
a few thousand times, with every string changed (`"x"` -> `"x~17"`) and every date moved years ahead, so the
values the recorded queries ask for stay rare, and then makes the planner's statistics count the new rows (see
`_count_rows`). On such a table the planner prefers any index that serves the filter (DocumentDB even prices an
applicable index at zero: `documentdb.forceUseIndexIfAvailable`, on by default); a scan of the whole table left
then means no index does.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError

_HERE = __file__
_SKIP_MODULES = ("pymongo", "motor", "asyncio", "mongomock", "bson")
_KIT_HELPERS = ("plenary_kit.guards", "plenary_kit.doclocks", "plenary_kit.mongo", "plenary_kit.batching",
                "plenary_kit.testing")


@dataclass
class Query:
    """One query as a repository sent it (the values too: `scans` explains it with them)."""

    collection: str
    operation: str
    filter: dict[str, Any]
    sort: list[tuple[str, int]] | None = None
    caller: str = ""

    @property
    def shape(self) -> str:
        """The filter and sort with the values left out: what decides the plan."""
        text = _shape(self.filter)
        if self.sort:
            text += " sort " + ", ".join(f"{k} {d:+d}" for k, d in self.sort)
        return text

    def __str__(self) -> str:
        return f"{self.collection}.{self.operation} {self.shape} (by {self.caller})"


def _shape(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_shape(v, k)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if key in ("$and", "$or", "$nor"):
            return "[" + ", ".join(_shape(v) for v in value) + "]"
        return "[..]"
    if key in ("$exists", "$size", "$options") or value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, re.Pattern) or type(value).__name__ == "Regex":
        return "/../"
    return "?"


def _normal_sort(sort: Any, direction: Any = None) -> list[tuple[str, int]] | None:
    """pymongo's sort arguments (`"f"`, `("f", -1)`, `[("f", 1), ...]`, `{"f": 1}`) as a list of pairs."""
    if sort is None:
        return None
    if isinstance(sort, str):
        return [(sort, int(direction if direction is not None else 1))]
    if isinstance(sort, Mapping):
        return [(str(k), int(v)) for k, v in sort.items()]
    if isinstance(sort, tuple) and len(sort) == 2 and isinstance(sort[0], str):
        return [(sort[0], int(sort[1]))]
    return [(str(k), int(v)) for k, v in sort]


def _caller() -> str:
    """The method that sent the query: the first frame outside the driver's modules and the kit's query helpers
    (`find_by_ids`, guarded writes, the insert batcher)."""
    for frame in inspect.stack(context=0)[2:]:
        module = frame.frame.f_globals.get("__name__", "")
        if frame.filename == _HERE or module.split(".")[0] in _SKIP_MODULES or module.startswith(_KIT_HELPERS):
            continue
        return f"{module}:{frame.frame.f_code.co_qualname}"
    return "?"


class QueryRecorder:
    """Records the queries sent through the database or collections it wraps (`recorder.database(db)`,
    `recorder.collection(c)`)."""

    def __init__(self) -> None:
        self.queries: list[Query] = []

    def database(self, db: Any) -> RecordingDatabase:
        return RecordingDatabase(db, self)

    def collection(self, collection: Any) -> RecordingCollection:
        return RecordingCollection(collection, self)

    def record(self, collection: str, operation: str, filter: Any, sort: Any = None) -> Query:
        query = Query(collection, operation, dict(filter or {}), _normal_sort(sort), _caller())
        self.queries.append(query)
        return query

    def distinct(self) -> list[Query]:
        """One query of each (collection, shape), the first one sent."""
        seen: dict[tuple[str, str], Query] = {}
        for query in self.queries:
            seen.setdefault((query.collection, query.shape), query)
        return list(seen.values())

    def collections(self) -> set[str]:
        return {query.collection for query in self.queries}


class RecordingDatabase:
    def __init__(self, db: Any, recorder: QueryRecorder) -> None:
        self._db = db
        self._recorder = recorder

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(self._db[name], self._recorder, self)

    def get_collection(self, name: str, *args: Any, **kwargs: Any) -> RecordingCollection:
        return RecordingCollection(self._db.get_collection(name, *args, **kwargs), self._recorder, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class RecordingCursor:
    """A find cursor that notes the sort chained onto it."""

    def __init__(self, cursor: Any, query: Query) -> None:
        self._cursor = cursor
        self._query = query

    def sort(self, key: Any, direction: Any = None) -> RecordingCursor:
        self._query.sort = _normal_sort(key, direction)
        self._cursor = self._cursor.sort(key, direction) if direction is not None else self._cursor.sort(key)
        return self

    def skip(self, n: int) -> RecordingCursor:
        self._cursor = self._cursor.skip(n)
        return self

    def limit(self, n: int) -> RecordingCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def __aiter__(self) -> Any:
        return self._cursor.__aiter__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class RecordingCollection:
    def __init__(self, collection: Any, recorder: QueryRecorder, database: RecordingDatabase | None = None) -> None:
        self._c = collection
        self._recorder = recorder
        self._database = database

    @property
    def name(self) -> str:
        return str(self._c.name)

    @property
    def database(self) -> Any:
        return self._database if self._database is not None else self._c.database

    def _record(self, operation: str, filter: Any, sort: Any = None) -> Query:
        return self._recorder.record(self.name, operation, filter, sort)

    def find(self, filter: Any = None, *args: Any, **kwargs: Any) -> RecordingCursor:
        query = self._record("find", filter, kwargs.get("sort"))
        return RecordingCursor(self._c.find(filter, *args, **kwargs), query)

    async def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        self._record("find_one", filter, kwargs.get("sort"))
        return await self._c.find_one(filter, *args, **kwargs)

    async def count_documents(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("count_documents", filter)
        return await self._c.count_documents(filter, *args, **kwargs)

    async def distinct(self, key: str, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        self._record("distinct", filter)
        return await self._c.distinct(key, filter, *args, **kwargs)

    async def update_one(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("update_one", filter, kwargs.get("sort"))
        return await self._c.update_one(filter, *args, **kwargs)

    async def update_many(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("update_many", filter)
        return await self._c.update_many(filter, *args, **kwargs)

    async def replace_one(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("replace_one", filter)
        return await self._c.replace_one(filter, *args, **kwargs)

    async def delete_one(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("delete_one", filter)
        return await self._c.delete_one(filter, *args, **kwargs)

    async def delete_many(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("delete_many", filter)
        return await self._c.delete_many(filter, *args, **kwargs)

    async def find_one_and_update(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("find_one_and_update", filter, kwargs.get("sort"))
        return await self._c.find_one_and_update(filter, *args, **kwargs)

    async def find_one_and_replace(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("find_one_and_replace", filter, kwargs.get("sort"))
        return await self._c.find_one_and_replace(filter, *args, **kwargs)

    async def find_one_and_delete(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        self._record("find_one_and_delete", filter, kwargs.get("sort"))
        return await self._c.find_one_and_delete(filter, *args, **kwargs)

    async def aggregate(self, pipeline: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        first = pipeline[0] if pipeline else {}
        match = first.get("$match", {})
        after = pipeline[1 if "$match" in first else 0:]
        sort = after[0].get("$sort") if after and "$sort" in after[0] else None
        self._record("aggregate", match, sort)
        return await self._c.aggregate(pipeline, *args, **kwargs)

    async def bulk_write(self, requests: list[Any], *args: Any, **kwargs: Any) -> Any:
        for request in requests:
            filter = getattr(request, "_filter", None)
            if filter is not None:
                self._record(f"bulk_write.{type(request).__name__}", filter)
        return await self._c.bulk_write(requests, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


# -- making collections large -----------------------------------------------------------------------------------
YEARS_AHEAD = timedelta(days=3 * 365)
_STATS_FIELD, _STATS_INDEX = "_plans_row_count", "plans_row_count"


def vary(value: Any, n: int, key: str = "") -> Any:
    """A copy of a stored value that no recorded query asks for: strings get `~n`, dates move years ahead,
    ObjectIds are new; numbers, booleans and None stay (they are states and counters, not keys)."""
    if key == "_outbox":
        return []  # copies carry no events: the relay must not publish them
    if isinstance(value, str):
        return f"{value}~{n}"
    if isinstance(value, datetime):
        return value + YEARS_AHEAD + timedelta(seconds=n)
    if isinstance(value, ObjectId):
        return ObjectId()
    if isinstance(value, Mapping):
        return {k: vary(v, n, k) for k, v in value.items()}
    if isinstance(value, list):
        return [vary(v, n) for v in value]
    if key == "_id" and isinstance(value, int) and not isinstance(value, bool):
        return value + 1_000_000_000 + n
    return value


def _copies(templates: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield vary(templates[n % len(templates)], n)


async def fill(db: Any, names: Iterable[str], *, copies: int = 3000, chunk: int = 1000) -> dict[str, int]:
    """Make each collection `copies` documents larger with varied copies of what it holds (see the module's
    note); returns each collection's size after. A collection that holds nothing stays empty (the caller
    should make the repository write to every collection it queries)."""
    sizes: dict[str, int] = {}
    for name in sorted(set(names)):
        collection = db[name]
        templates = await collection.find({}).limit(50).to_list(50)
        if templates:
            batch: list[dict[str, Any]] = []
            for doc in _copies(templates, copies):
                batch.append(doc)
                if len(batch) >= chunk:
                    await _insert(collection, batch)
                    batch = []
            if batch:
                await _insert(collection, batch)
            await _count_rows(collection)
        sizes[name] = int(await collection.count_documents({}))
    return sizes


async def _count_rows(collection: Any) -> None:
    """Let PostgreSQL's planner know the table's new size: building an index records the table's row count in
    its statistics (`pg_class.reltuples`), as autovacuum's ANALYZE would a little later on a running server. An
    index built while the table held the repository's few documents (the relay's, made at its first scan) left a
    count of a few rows behind, and with it the planner reads the whole table rather than use a served index.
    Harmless on MongoDB, which plans by trial."""
    await collection.create_index([(_STATS_FIELD, 1)], name=_STATS_INDEX)
    await collection.drop_index(_STATS_INDEX)


async def _insert(collection: Any, docs: list[dict[str, Any]]) -> None:
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError:  # a copy that clashes with a unique index is left out; the rest went in
        pass


# -- reading plans ------------------------------------------------------------------------------------------------
_INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
_SEQ_SCAN_TEXT = re.compile(r"\bSeq Scan\b")
# DocumentDB keeps every collection in a table of its own whose primary key (`_id_`) leads with `shard_key_value`,
# one value for the whole collection: an index scan bounded by that alone reads every document
_SHARD_KEY_ONLY = re.compile(r"^[(\s]*shard_key_value = '?-?\d+'?(::bigint)?[)\s]*$")


def _whole_collection_index_scan(node: Mapping[str, Any]) -> bool:
    return node.get("Node Type") in _INDEX_NODES and bool(_SHARD_KEY_ONLY.match(str(node.get("Index Cond", ""))))


def _nodes(plan: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(plan, Mapping):
        yield plan
        for value in plan.values():
            yield from _nodes(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from _nodes(item)


def _strings(plan: Any) -> Iterator[str]:
    if isinstance(plan, str):
        yield plan
    elif isinstance(plan, Mapping):
        for value in plan.values():
            yield from _strings(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from _strings(item)


def is_collection_scan(explained: Mapping[str, Any]) -> bool:
    """Whether an `explain` answer reads the whole collection: a MongoDB `COLLSCAN` stage in the winning plan,
    or a PostgreSQL `Seq Scan` node (FerretDB 2 on DocumentDB), in JSON or in text form."""
    planner = explained.get("queryPlanner", explained)
    winning = planner.get("winningPlan", planner) if isinstance(planner, Mapping) else planner
    for node in _nodes(winning):
        if node.get("stage") == "COLLSCAN" or node.get("Node Type") == "Seq Scan" or \
                _whole_collection_index_scan(node):
            return True
    return any(_SEQ_SCAN_TEXT.search(text) for text in _strings(winning))


def plan_summary(explained: Mapping[str, Any]) -> str:
    """The plan's scan nodes in a line: `IXSCAN key_1`, `Index Scan on documents_12 using key_1`, `Seq Scan on
    documents_12` (for failure messages)."""
    parts: list[str] = []
    for node in _nodes(explained.get("queryPlanner", explained)):
        stage = node.get("stage")
        if stage in ("COLLSCAN", "IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "CLUSTERED_IXSCAN"):
            parts.append(f"{stage} {node.get('indexName', '')}".strip())
        kind = node.get("Node Type")
        if kind == "Seq Scan" or kind in _INDEX_NODES:
            text = f"{kind} on {node.get('Relation Name', '?')}" if "Relation Name" in node else str(kind)
            if node.get("Index Name"):
                text += f" using {node['Index Name']}"
            if _whole_collection_index_scan(node):
                text += " (bounded by the collection's shard key alone: every document)"
            parts.append(text)
    if not parts:
        parts = [line.strip() for text in _strings(explained.get("queryPlanner", explained))
                 for line in text.splitlines() if "Scan" in line]
    return "; ".join(parts) or repr(explained)[:500]


async def explain(db: Any, query: Query) -> dict[str, Any]:
    command: dict[str, Any] = {"find": query.collection, "filter": query.filter}
    if query.sort:
        command["sort"] = dict(query.sort)
    answer: dict[str, Any] = await db.command({"explain": command, "verbosity": "queryPlanner"})
    return answer


@dataclass
class Scan:
    query: Query
    plan: str
    explained: dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        return f"{self.query}: {self.plan}"


def is_allowed(query: Query, allowed: Iterable[tuple[str, str]]) -> bool:
    """Whether an allow-list entry `(collection, what)` covers the query: `what` is its shape, or the end of the
    method that sent it (`"AttendeeRepository.page"`); collection `"*"` stands for any."""
    return any(collection in ("*", query.collection) and (what == query.shape or query.caller.endswith(what))
               for collection, what in allowed)


async def scans(db: Any, queries: Iterable[Query], *, allowed: Iterable[tuple[str, str]] = ()) -> list[Scan]:
    """The distinct query shapes the server answers with a collection scan, leaving out those `allowed` covers
    (see `is_allowed`)."""
    allow = list(allowed)
    seen: set[tuple[str, str]] = set()
    found: list[Scan] = []
    for query in queries:
        key = (query.collection, query.shape)
        if key in seen or is_allowed(query, allow):
            continue
        seen.add(key)
        explained = await explain(db, query)
        if is_collection_scan(explained):
            found.append(Scan(query, plan_summary(explained), explained))
    return found
