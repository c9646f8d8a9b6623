"""httpx over the kit's AiohttpTransport against a real server: bodies both ways, raw encodings, timeouts and
failures as httpx exceptions."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest
from plenary_kit.aiohttp_transport import AiohttpTransport
from plenary_kit.testing.apps import free_port, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, headers={"x-method": request.method, "x-length": request.headers.get("content-length", "-"),
                                   "x-encoding": request.headers.get("accept-encoding", "-")})


async def zipped(request: Request) -> Response:
    return Response(gzip.compress(b"hello " * 100), headers={"content-encoding": "gzip"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "2")))
    return Response(b"late")


async def ticks(request: Request) -> StreamingResponse:
    async def gen():
        for n in range(3):
            await asyncio.sleep(0.3)
            yield f"data: {n}\n\n".encode()

    return StreamingResponse(gen(), media_type="text/event-stream")


APP = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST", "PUT"]), Route("/zipped", zipped),
                        Route("/slow", slow), Route("/ticks", ticks)])


@pytest.fixture
async def base():
    async with serve_app(APP) as url:
        yield url


async def test_bodies_go_up_and_come_back_whole(base) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        response = await client.post(f"{base}/echo", content=b"x" * 100_000)
        assert response.status_code == 200 and response.content == b"x" * 100_000
        assert response.headers["x-length"] == "100000"

        async def parts():
            for _ in range(10):
                yield b"y" * 1000

        streamed = await client.put(f"{base}/echo", content=parts())
        assert streamed.content == b"y" * 10_000 and streamed.headers["x-method"] == "PUT"


async def test_nothing_is_asked_compressed_and_a_compressed_answer_stays_raw(base) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        asked = await client.get(f"{base}/echo", headers={"accept-encoding": "identity"})
        assert asked.headers["x-encoding"] == "identity"
        response = await client.send(client.build_request("GET", f"{base}/zipped"), stream=True)
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        assert gzip.decompress(raw) == b"hello " * 100


async def test_a_slow_answer_is_a_read_timeout(base) -> None:
    # the answer's headers are due within connect + read
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=httpx.Timeout(0.2, read=0.3)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{base}/slow", params={"s": "2"})


async def test_a_stream_reads_past_the_read_timeout_once_it_is_lifted(base) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=httpx.Timeout(2, read=0.5)) as client:
        request = client.build_request("GET", f"{base}/ticks")
        response = await client.send(request, stream=True)
        response.request.extensions["timeout"]["read"] = None  # as the gateway does for event streams
        text = b"".join([chunk async for chunk in response.aiter_raw()]).decode()
        await response.aclose()
        assert text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"


async def test_nobody_listening_is_a_connect_error() -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")
