"""`Idempotency-Key` for writes a client may retry: the first response is stored and replayed.

A key is scoped to the route and the caller; reusing it with a different body is refused (422), and a retry
while the first attempt is still running gets 409 rather than a second effect.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from plenary_kit.problems import ProblemError

MAX_KEY_LENGTH = 200


class KeyCollection(Protocol):
    async def find_one(self, filter: dict[str, Any]) -> dict[str, Any] | None: ...

    async def insert_one(self, document: dict[str, Any]) -> Any: ...

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> Any: ...

    async def delete_one(self, filter: dict[str, Any]) -> Any: ...


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, collection: KeyCollection) -> None:
        self._c = collection

    @staticmethod
    def _id(scope: str, key: str) -> str:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ProblemError(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
        return f"{scope}:{key}"

    async def begin(self, scope: str, key: str, body: Any) -> tuple[int, Any] | None:
        """None when this is the first attempt (go ahead); else the stored (status, body) to replay."""
        doc_id = self._id(scope, key)
        fp = fingerprint(body)
        try:
            await self._c.insert_one({"_id": doc_id, "fingerprint": fp, "state": "running",
                                      "created_at": datetime.now(UTC)})
            return None
        except DuplicateKeyError:
            pass
        existing = await self._c.find_one({"_id": doc_id})
        if existing is None:  # finished and cleaned up between our two calls: treat as first attempt
            return await self.begin(scope, key, body)
        if existing["fingerprint"] != fp:
            raise ProblemError(422, "This Idempotency-Key was already used with a different request body; "
                                    "use a new key for a new request.")
        if existing["state"] != "done":
            raise ProblemError(409, "A request with this Idempotency-Key is still being processed; retry shortly.",
                               headers={"Retry-After": "1"})
        return int(existing["status"]), existing["body"]

    async def finish(self, scope: str, key: str, status: int, body: Any) -> None:
        await self._c.update_one({"_id": self._id(scope, key)},
                                 {"$set": {"state": "done", "status": status, "body": body}})

    async def abandon(self, scope: str, key: str) -> None:
        """The attempt failed without an effect: let the client retry with the same key."""
        await self._c.delete_one({"_id": self._id(scope, key), "state": "running"})
