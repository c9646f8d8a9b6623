"""The HTTP surface over the in-memory twins (httpx's ASGI transport: no sockets)."""

from __future__ import annotations


async def test_every_route_needs_a_signed_in_caller(world) -> None:
    async with world.client() as client:
        for method, path in (("GET", "/networking/directory"), ("GET", "/networking/conversations"),
                             ("POST", "/networking/meetings"), ("GET", "/networking/reports")):
            response = await client.request(method, path)
            assert response.status_code == 401, path
            assert response.headers["content-type"] == "application/problem+json"


async def test_conversation_and_message_flow_with_problem_details(world) -> None:
    await world.people("a1", "a2", "a3")
    async with world.client() as client:
        a1, a2, a3 = world.token("a1"), world.token("a2"), world.token("a3")
        started = await client.post("/networking/conversations", json={"member_ids": ["a2"]}, headers=a1)
        assert started.status_code == 201
        conversation = started.json()["id"]
        again = await client.post("/networking/conversations", json={"member_ids": ["a1"]}, headers=a2)
        assert again.status_code == 200 and again.json()["id"] == conversation
        unknown_field = await client.post("/networking/conversations", json={"member_ids": ["a2"], "admin": True},
                                          headers=a1)
        assert unknown_field.status_code == 422 and "'admin' is not a field" in unknown_field.json()["detail"]
        path = f"/networking/conversations/{conversation}/messages"
        sent = await client.post(path, json={"text": "Hello"}, headers={**a1, "Idempotency-Key": "m1"})
        replay = await client.post(path, json={"text": "Hello"}, headers={**a1, "Idempotency-Key": "m1"})
        assert sent.status_code == 201 and replay.status_code == 200 and sent.json()["id"] == replay.json()["id"]
        outsider = await client.get(path, headers=a3)
        assert outsider.status_code == 404 and outsider.json()["detail"].startswith("There is no conversation")
        listing = await client.get(path, headers=a2)
        assert [m["text"] for m in listing.json()["items"]] == ["Hello"]
        blocked = await client.put("/networking/blocks/a1", headers=a2)
        assert blocked.status_code == 200
        refused = await client.post(path, json={"text": "Still there?"}, headers=a1)
        assert refused.status_code == 403 and "blocked you" in refused.json()["detail"]
        mine = await client.get("/networking/conversations", headers=a1)
        assert [c["id"] for c in mine.json()["items"]] == [conversation]


async def test_meetings_over_http(world) -> None:
    await world.people("a1", "a2")
    async with world.client() as client:
        body = {"invitee_id": "a2", "subject": "Digital inclusion", "slots": [world.slot(world.at(10))]}
        naive = await client.post("/networking/meetings", headers=world.token("a1"), json={
            **body, "slots": [{"starts_at": "2020-06-23T10:00:00", "ends_at": "2020-06-23T10:30:00"}]})
        assert naive.status_code == 422 and "slots.0.starts_at" in naive.json()["detail"]
        made = await client.post("/networking/meetings", json=body, headers=world.token("a1"))
        assert made.status_code == 201
        meeting_id = made.json()["id"]
        accepted = await client.post(f"/networking/meetings/{meeting_id}/accept", headers=world.token("a2"))
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        clashing = await client.post("/networking/meetings", headers=world.token("a1"), json={
            **body, "slots": [world.slot(world.at(10, 10))]})
        assert clashing.status_code == 409
        problem = clashing.json()
        assert "clashes with your meeting 'Digital inclusion' with Person a2" in problem["detail"]
        assert problem["clash"]["starts_at"] == "2020-06-23T10:00:00Z"
        calendar = await client.get("/networking/me/calendar", headers=world.token("a2"))
        assert [i["id"] for i in calendar.json()["items"]] == [meeting_id]


async def test_reports_are_for_organisers_only(world) -> None:
    await world.people("a1", "a2")
    async with world.client() as client:
        filed = await client.post("/networking/reports", json={"reported_id": "a2", "category": "harassment",
                                                               "details": "Rude messages"},
                                  headers=world.token("a1"))
        assert filed.status_code == 201
        denied = await client.get("/networking/reports", headers=world.token("a1"))
        assert denied.status_code == 403
        seen = await client.get("/networking/reports", headers=world.token("org", "organiser"))
        assert seen.status_code == 200 and seen.json()["items"][0]["details"] == "Rude messages"
        one = await client.get(f"/networking/reports/{filed.json()['id']}", headers=world.token("org", "organiser"))
        assert one.json()["category"] == "harassment"
        bad = await client.post("/networking/reports", json={"reported_id": "a2", "category": "boring"},
                                headers=world.token("a1"))
        assert bad.status_code == 422 and "category" in bad.json()["detail"]


async def test_speaker_slots_over_http(world) -> None:
    await world.people("spk", "a1", "a2")
    async with world.client() as client:
        published = await client.post("/networking/availability", json={**world.slot(world.at(13)), "topic": "AI"},
                                      headers={**world.token("spk", "speaker"), "Idempotency-Key": "s1"})
        assert published.status_code == 201
        slot_id = published.json()["id"]
        booked = await client.post(f"/networking/availability/{slot_id}/booking", headers=world.token("a1"))
        assert booked.status_code == 201 and booked.json()["booked_by"]["id"] == "a1"
        taken = await client.post(f"/networking/availability/{slot_id}/booking", headers=world.token("a2"))
        assert taken.status_code == 409 and "booked" in taken.json()["detail"]
        seen_by_other = await client.get(f"/networking/availability/{slot_id}", headers=world.token("a2"))
        assert seen_by_other.json()["status"] == "booked" and seen_by_other.json()["booked_by"] is None
        listed = await client.get("/networking/availability", params={"speaker_id": "spk"},
                                  headers=world.token("a2"))
        assert [s["id"] for s in listed.json()["items"]] == [slot_id]


async def test_the_openapi_document_lists_the_routes(world) -> None:
    async with world.client() as client:
        document = (await client.get("/openapi.json")).json()
    paths = set(document["paths"])
    assert {"/networking/directory", "/networking/conversations/{conversation_id}/messages",
            "/networking/meetings/{meeting_id}/accept", "/networking/availability/{slot_id}/booking",
            "/networking/reports", "/networking/blocks/{attendee_id}", "/networking/me/calendar"} <= paths
