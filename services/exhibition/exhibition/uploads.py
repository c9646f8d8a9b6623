"""Reading an uploaded file from a multipart/form-data request, within a size limit.

The limit is enforced while the body arrives, not after: a declared Content-Length over it is refused before
anything is read, and a body that grows past it stops being parsed at once. Either way the rest of the body is
read and dropped (up to `drain_max` bytes) before the 413 goes out, so an ordinary client, which sends its whole
body before reading the answer, gets the problem document instead of a reset connection. The parsed file stays in
memory (it is at most `limit` bytes and is checked and stored in chunks right after).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from plenary_kit.problems import ProblemError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from exhibition.handlers import Upload, too_large

MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and a title field around the file


class _TooLarge(Exception):
    pass


@dataclass
class _Body:
    received: int = 0
    finished: bool = False


async def _chunks(request: Request, body: _Body, cap: int) -> AsyncGenerator[bytes, None]:
    while not body.finished:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        body.finished = not message.get("more_body", False)
        body.received += len(chunk)
        if body.received > cap:
            raise _TooLarge()
        if chunk:
            yield chunk


async def _drain(request: Request, body: _Body, budget: int) -> None:
    """Read and drop the rest of the body, up to `budget` more bytes."""
    read = 0
    while not body.finished and read <= budget:
        message = await request.receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        body.finished = not message.get("more_body", False)


async def read_upload(request: Request, *, limit: int, drain_max: int) -> Upload:
    """The 'file' part (and the optional 'title' field) of a multipart/form-data upload of at most `limit` bytes."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ProblemError(415, "Send the file as multipart/form-data, in a part named 'file' (with an optional "
                                "'title' field).")
    cap = limit + MULTIPART_OVERHEAD
    body = _Body()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        if int(declared) <= drain_max:
            await _drain(request, body, drain_max)
        raise too_large(limit)
    parser = MultiPartParser(request.headers, _chunks(request, body, cap), max_files=1, max_fields=4,
                             max_part_size=16 * 1024)
    parser.spool_max_size = cap  # keep the file in memory: it is within the limit
    try:
        form = await parser.parse()
    except _TooLarge:
        await _drain(request, body, drain_max)
        raise too_large(limit) from None
    except MultiPartException as exc:
        raise ProblemError(400, f"The upload is not valid multipart/form-data: {exc}") from None
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise ProblemError(422, "'file' is required: send the file in a multipart part named 'file'.",
                               errors=[{"field": "file", "message": "required", "type": "missing"}])
        data = await part.read()
        title = form.get("title")
        if len(data) > limit:
            raise too_large(limit)
        return Upload(filename=part.filename or "", declared_type=part.content_type, data=data,
                      title=title if isinstance(title, str) else None)
    finally:
        await form.close()
