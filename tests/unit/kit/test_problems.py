from __future__ import annotations

import httpx
from fastapi import APIRouter
from plenary_kit.http import create_app
from plenary_kit.problems import ProblemError
from pydantic import BaseModel, ConfigDict
from pymongo.errors import ExecutionTimeout, ServerSelectionTimeoutError

router = APIRouter()


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


@router.post("/things")
async def make(thing: Thing) -> dict:
    return {"name": thing.name}


@router.get("/busy")
async def busy() -> None:
    raise ExecutionTimeout("operation would exceed time limit")


@router.get("/down")
async def down() -> None:
    raise ServerSelectionTimeoutError("no servers")


@router.get("/teapot")
async def teapot() -> None:
    raise ProblemError(409, "That name is taken; choose another.", field="name")


async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
    app = create_app(service="test", title="test", routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_a_busy_or_unreachable_database_answers_503_not_500() -> None:
    for path in ("/busy", "/down"):
        response = await call("GET", path)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        assert "try again" in response.json()["detail"]


async def test_unknown_fields_and_missing_ones_are_named() -> None:
    response = await call("POST", "/things", json={"name": "a", "admin": True})
    assert response.status_code == 422
    assert "'admin' is not a field you can set" in response.json()["detail"]
    response = await call("POST", "/things", json={})
    assert "'name' is required" in response.json()["detail"]


async def test_problem_errors_keep_their_status_sentence_and_extensions() -> None:
    response = await call("GET", "/teapot")
    assert response.status_code == 409
    assert response.json()["detail"] == "That name is taken; choose another."
    assert response.json()["field"] == "name"
    assert (await call("GET", "/nowhere")).json()["detail"] == "There is nothing at /nowhere."
