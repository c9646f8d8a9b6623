"""Pages rendered by the gateway over fake upstreams: what each shows, what it asks the services, forms and errors."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from plenary_kit.auth import TokenIssuer
from plenary_kit.testing.memory import MemoryBroker

from .conftest import CSRF, FACTS, FakeServices, question, session_view, sign_in


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_home_shows_the_live_figures_as_charts(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.on("GET", "/stats/facts", FACTS)
    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    assert re.search(r'id="fig-attendees"[^>]*>15,234<', html)
    assert re.search(r'id="fig-countries"[^>]*>152<', html)
    assert re.search(r'id="fig-covid"[^>]*>41 \(25.6 %\)<', html)
    region = html.split('id="chart-region"')[1].split("</figure>")[0]
    assert region.count('class="bar"') == 3  # one bar per ITU region with attendees
    assert "Western Europe" in region and "6,000 (39.4 %)" in region
    gender = html.split('id="chart-gender"')[1].split("</figure>")[0]
    assert "fewer than 5" in gender  # a hidden small cell is labelled, not shown exactly
    assert gender.count("stroke-dasharray") == 3
    assert 'font-size: 2.8rem' in html and ">digital<" in html  # the most frequent topic is the largest word
    assert 'data-channels="facts"' in html  # the page follows the facts channel live


async def test_home_renders_without_the_figures_when_stats_is_down(client: httpx.AsyncClient,
                                                                   fake: FakeServices) -> None:
    fake.problem("GET", "/stats/facts", 503, "The figures are still being recovered.")
    response = await client.get("/")
    assert response.status_code == 200
    assert "The figures are not available right now" in response.text


async def test_agenda_forwards_filters_and_the_viewers_zone_and_paginates(client: httpx.AsyncClient,
                                                                          fake: FakeServices) -> None:
    fake.on("GET", "/sessions", {"items": [session_view(i) for i in range(100)], "total": 160, "page": 1,
                                 "page_size": 100, "pages": 2})
    client.cookies.set("tz", "Europe/Zurich")
    response = await client.get("/agenda", params={"action_line": "C7", "covid19": "true", "page_size": "100",
                                                  "q": "health"})
    assert response.status_code == 200
    (sent,) = fake.calls("GET", "/sessions")
    assert dict(sent.url.params) == {"action_line": "C7", "covid19": "true", "q": "health", "page": "1",
                                     "page_size": "100", "tz": "Europe/Zurich"}
    assert response.text.count('class="session-item') == 100
    assert "160 sessions" in response.text
    assert "11:00 (Europe/Zurich)" in response.text  # 09:00 UTC shown in the viewer's zone, the zone named
    assert 'rel="next"' in response.text and "Page 1 of 2" in response.text
    assert 'value="C7" selected' in response.text  # the filter stays chosen


async def test_agenda_answers_are_cached_briefly_for_everyone(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.on("GET", "/sessions", {"items": [session_view(1)], "total": 1, "page": 1, "page_size": 50, "pages": 1})
    await client.get("/agenda")
    await client.get("/agenda")
    assert len(fake.calls("GET", "/sessions")) == 1
    assert "authorization" not in fake.calls("GET", "/sessions")[0].headers


async def test_agenda_shows_a_bad_filter_sentence(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.problem("GET", "/sessions", 422, "'day': input should be a valid date.")
    response = await client.get("/agenda", params={"day": "2020-13-45"})
    assert response.status_code == 422
    assert "&#39;day&#39;: input should be a valid date." in response.text


async def test_session_page_offers_the_schedule_button_with_the_waiting_position(
    client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer
) -> None:
    sign_in(client, issuer)
    fake.on("GET", "/sessions/s1", {**session_view(1), "you": {"moderator": False, "allowed_in": True,
                                                               "reason": None}, "seats": None})
    fake.on("GET", "/sessions/s1/enrolment", {"session_id": "s1", "state": "waiting", "position": 3})
    response = await client.get("/sessions/s1")
    assert response.status_code == 200
    assert "You are on the waiting list: position 3." in response.text
    assert "Remove from my schedule" in response.text
    assert 'data-api-path="/api/sessions/me/schedule/s1"' in response.text
    (sent,) = fake.calls("GET", "/sessions/s1/enrolment")
    assert sent.headers["authorization"].startswith("Bearer ")


async def test_schedule_form_without_script_adds_the_session(client: httpx.AsyncClient, fake: FakeServices,
                                                              issuer: TokenIssuer) -> None:
    token = sign_in(client, issuer)
    fake.on("PUT", "/sessions/me/schedule/s1", {"state": "seated"}, status=201)
    response = await client.post("/sessions/s1/schedule", data={"csrf_token": CSRF, "action": "add"})
    assert response.status_code == 303
    assert response.headers["location"] == "/sessions/s1?msg=added"
    (sent,) = fake.calls("PUT", "/sessions/me/schedule/s1")
    assert sent.headers["authorization"] == f"Bearer {token}"


async def test_live_page_lists_questions_and_the_viewer_count(client: httpx.AsyncClient, fake: FakeServices,
                                                              issuer: TokenIssuer) -> None:
    sign_in(client, issuer)
    fake.on("GET", "/sessions/s1", {**session_view(1, status="live"), "stream_url": "https://stream.example/s1",
                                    "you": {"moderator": False, "allowed_in": True, "reason": None}})
    fake.on("GET", "/sessions/s1/questions", {"items": [question("q1", "Why now?", 4, pinned=True),
                                                        question("q2", "How much?", 1, voted=True)]})
    fake.on("GET", "/sessions/s1/viewers", {"session_id": "s1", "viewers": 12, "distinct_attendees": 30})
    response = await client.get("/sessions/s1/live")
    html = response.text
    assert response.status_code == 200
    assert 'href="https://stream.example/s1"' in html and "Open the stream" in html
    assert "12 watching now" in html
    assert html.index("Why now?") < html.index("How much?")
    assert "4 votes" in html and "1 vote<" in html
    assert 'aria-pressed="true"' in html  # the viewer's own upvote shows pressed
    assert 'data-channels="user:a1,session:s1"' in html
    assert 'data-api-path="/api/sessions/s1/questions"' in html


async def test_asking_without_script_shows_the_services_sentence_next_to_the_field(
    client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer
) -> None:
    sign_in(client, issuer)
    fake.on("GET", "/sessions/s1", {**session_view(1, status="live")})
    fake.on("GET", "/sessions/s1/questions", {"items": []})
    fake.on("GET", "/sessions/s1/viewers", {"viewers": 0})
    fake.problem("POST", "/sessions/s1/questions", 422, "'text': String should have at least 1 character.",
                 errors=[{"field": "text", "message": "String should have at least 1 character",
                          "type": "string_too_short"}])
    response = await client.post("/sessions/s1/questions", data={"csrf_token": CSRF, "text": ""})
    assert response.status_code == 422
    error = re.search(r'<p class="field-error" id="text-error"[^>]*>([^<]*)</p>', response.text)
    assert error and error.group(1) == "String should have at least 1 character."
    assert 'aria-describedby="text-error' in response.text and 'aria-invalid="true"' in response.text


async def test_register_sets_httponly_cookies_and_sends_the_profile(client: httpx.AsyncClient,
                                                                   fake: FakeServices) -> None:
    fake.on("POST", "/registration/attendees", {"attendee": {"id": "a9"}, "access_token": "at.x.y",
                                                "expires_in": 900, "refresh_token": "a9.f1.s",
                                                "refresh_token_expires_in": 2592000}, status=201)
    page = await client.get("/register")
    csrf = client.cookies["plenary_csrf"]
    assert f'value="{csrf}"' in page.text
    client.cookies.set("tz", "Africa/Nairobi")
    response = await client.post("/register", data={
        "csrf_token": csrf, "name": "Wanjiru", "email": "w@example.org", "country": "KE", "gender": "female",
        "stakeholder_type": "academia", "languages": ["en", "sw"], "action_lines": ["C4"], "sdgs": ["4", "5"],
        "consent_directory": "on"})
    assert response.status_code == 303
    assert response.headers["location"] == "/me/schedule?msg=registered"
    cookies = response.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("plenary_at="))
    assert "HttpOnly" in access and "SameSite=lax" in access and "Max-Age=900" in access
    assert any(c.startswith("plenary_rt=a9.f1.s") and "HttpOnly" in c for c in cookies)
    (sent,) = fake.calls("POST", "/registration/attendees")
    assert FakeServices.body(sent) == {
        "name": "Wanjiru", "email": "w@example.org", "country": "KE", "gender": "female",
        "stakeholder_type": "academia", "organisation": "", "job_title": "", "languages": ["en", "sw"],
        "interests": {"action_lines": ["C4"], "sdgs": [4, 5]},
        "consents": {"directory": True, "exhibitor_contact": False}, "timezone": "Africa/Nairobi"}


async def test_register_problem_is_shown_next_to_the_field_it_names(client: httpx.AsyncClient,
                                                                    fake: FakeServices) -> None:
    fake.problem("POST", "/registration/attendees", 422, "'email': value is not a valid email address.",
                 errors=[{"field": "email", "message": "value is not a valid email address: no @", "type": "v"}])
    client.cookies.set("plenary_csrf", CSRF)
    response = await client.post("/register", data={"csrf_token": CSRF, "name": "X", "email": "nope"})
    assert response.status_code == 422
    assert re.search(r'id="email-error"[^>]*>Value is not a valid email address: no @\.</p>', response.text)
    assert 'value="nope"' in response.text  # what was typed stays
    assert "&#39;email&#39;: value is not a valid email address." in response.text  # the summary sentence


async def test_sign_in_with_the_code_then_sign_out(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.on("POST", "/registration/signin/code", {"detail": "sent"}, status=202)
    fake.on("POST", "/registration/signin/token", {"access_token": "at.1.2", "expires_in": 900,
                                                   "refresh_token": "a1.f2.s", "refresh_token_expires_in": 99})
    fake.on("POST", "/registration/signout", httpx.Response(204))
    client.cookies.set("plenary_csrf", CSRF)
    step1 = await client.post("/signin", data={"csrf_token": CSRF, "email": "ada@example.org"})
    assert step1.status_code == 200 and 'value="ada@example.org"' in step1.text and "Code" in step1.text
    step2 = await client.post("/signin/code", data={"csrf_token": CSRF, "email": "ada@example.org",
                                                    "code": "123456", "next": "/agenda"})
    assert step2.status_code == 303 and step2.headers["location"] == "/agenda"
    assert client.cookies["plenary_rt"] == "a1.f2.s"
    out = await client.post("/signout", data={"csrf_token": CSRF})
    assert out.status_code == 303
    assert FakeServices.body(fake.calls("POST", "/registration/signout")[0]) == {"refresh_token": "a1.f2.s"}
    assert "plenary_rt" not in client.cookies and "plenary_at" not in client.cookies


async def test_a_wrong_code_is_shown_next_to_the_code_field(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.problem("POST", "/registration/signin/token", 401, "This code is wrong or has expired; ask for a new one.")
    client.cookies.set("plenary_csrf", CSRF)
    response = await client.post("/signin/code", data={"csrf_token": CSRF, "email": "a@b.org", "code": "000000"})
    assert response.status_code == 401
    assert re.search(r'id="code-error"[^>]*>This code is wrong or has expired; ask for a new one.</p>',
                     response.text)


async def test_open_redirects_are_refused_after_sign_in(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.on("POST", "/registration/signin/token", {"access_token": "t", "refresh_token": "r"})
    client.cookies.set("plenary_csrf", CSRF)
    response = await client.post("/signin/code", data={"csrf_token": CSRF, "email": "a@b.org", "code": "123456",
                                                       "next": "//evil.example/x"})
    assert response.headers["location"] == "/me/schedule?msg=signed-in"


async def test_private_pages_send_anonymous_visitors_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/me/schedule", "/me/inbox", "/me/profile", "/networking", "/meetings"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/signin?next=%2F")


async def test_schedule_shows_waiting_positions_and_the_feed_state(client: httpx.AsyncClient, fake: FakeServices,
                                                                   issuer: TokenIssuer) -> None:
    sign_in(client, issuer)
    fake.on("GET", "/sessions/me/schedule", {"items": [
        {"session": session_view(1), "state": "seated", "overlaps": True, "overlaps_with": ["s2"]},
        {"session": session_view(2), "state": "waiting", "overlaps": True, "overlaps_with": ["s1"]}],
        "overlaps": 2, "timezone": "UTC"})
    fake.on("GET", "/sessions/s2/enrolment", {"state": "waiting", "position": 7})
    fake.on("GET", "/sessions/me/feed", {"active": False, "created_at": None})
    response = await client.get("/me/schedule")
    assert response.status_code == 200
    assert "Position 7 on the waiting list" in response.text
    assert "2 sessions overlap others." in response.text
    assert "Create my calendar link" in response.text


async def test_new_calendar_link_is_shown_once_with_this_sites_address(
    client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer
) -> None:
    sign_in(client, issuer)
    fake.on("POST", "/sessions/me/feed", {"url": "http://internal/x", "path": "/sessions/feeds/personal/tok.ics",
                                          "created": True}, status=201)
    fake.on("GET", "/sessions/me/schedule", {"items": [], "overlaps": 0})
    fake.on("GET", "/sessions/me/feed", {"active": True, "created_at": "2020-07-01T00:00:00+00:00"})
    response = await client.post("/me/feed", data={"csrf_token": CSRF})
    assert 'href="http://gateway.test/api/sessions/feeds/personal/tok.ics"' in response.text


async def test_inbox_lists_notifications_and_the_unread_count(client: httpx.AsyncClient, fake: FakeServices,
                                                             issuer: TokenIssuer) -> None:
    sign_in(client, issuer)
    fake.on("GET", "/notifications/inbox", {"items": [
        {"id": "n1", "kind": "announcement", "title": "Welcome", "body": "Hello", "link": "/agenda",
         "created_at": "2020-07-07T08:00:00+00:00", "read": False, "read_at": None}], "next": None})
    fake.on("GET", "/notifications/inbox/unread-count", {"unread": 1})
    response = await client.get("/me/inbox")
    assert "1 unread notification" in response.text
    assert re.search(r'id="unread-badge"[^>]*>1 unread</span>', response.text)
    assert 'data-api-path="/api/notifications/inbox/n1/read"' in response.text


async def test_booth_records_the_visit_and_offers_downloads_and_sharing(
    client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer
) -> None:
    sign_in(client, issuer)
    fake.on("GET", "/exhibition/exhibitors/e1", {
        "id": "e1", "organisation": "Acme Lab", "stakeholder_type": "academia", "country": "KE",
        "description": "We build.", "website": None, "tags": {}, "logo_url": None, "videos": [],
        "materials": [{"id": "m1", "title": "Brochure", "filename": "b.pdf", "content_type": "application/pdf",
                       "size": 2048, "url": "/api/exhibition/exhibitors/e1/materials/m1/content",
                       "created_at": None}], "can_edit": False, "is_staff": False})
    fake.on("GET", "/exhibition/me/shares", [])
    fake.on("POST", "/exhibition/exhibitors/e1/visits", {"counted": True})
    fake.on("GET", "/registration/attendees/me", {"consents": {"exhibitor_contact": {"given": True}}})
    response = await client.get("/exhibition/e1")
    assert response.status_code == 200
    assert '<a href="/api/exhibition/exhibitors/e1/materials/m1/content" download>Download Brochure</a>' in \
        response.text
    assert "Share my contact details" in response.text
    assert len(fake.calls("POST", "/exhibition/exhibitors/e1/visits")) == 1


async def test_hall_lists_booths_with_filters_from_the_facets(client: httpx.AsyncClient, fake: FakeServices) -> None:
    booths = [{"id": f"e{i}", "organisation": f"Org {i}", "stakeholder_type": "academia", "country": "KE",
               "excerpt": "", "tags": {}, "logo_url": None, "videos": 0, "materials": 2} for i in range(48)]
    fake.on("GET", "/exhibition/exhibitors", {"items": booths, "total": 130, "offset": 0, "limit": 48,
                                              "next_offset": 48})
    fake.on("GET", "/exhibition/facets", {"stakeholder_types": {"academia": 130}, "countries": {"KE": 130}})
    response = await client.get("/exhibition", params={"stakeholder_type": "academia", "tag": "C7", "page": "2"})
    assert response.status_code == 200
    (sent,) = fake.calls("GET", "/exhibition/exhibitors")
    assert dict(sent.url.params) == {"stakeholder_type": "academia", "tag": "C7", "offset": "48", "limit": "48"}
    assert response.text.count('class="card"') == 48
    assert "130 booths" in response.text and "Kenya (130)" in response.text


async def test_unknown_page_is_an_html_404_and_unknown_api_stays_a_problem(client: httpx.AsyncClient) -> None:
    page = await client.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in page.text
    api = await client.get("/api/nosuch/x")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"


async def test_upstream_down_is_a_page_with_a_sentence(client: httpx.AsyncClient, fake: FakeServices) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake.on("GET", "/sessions/speakers", down)
    response = await client.get("/speakers")
    assert response.status_code == 502
    assert "The service is unreachable right now; try again shortly." in response.text


async def test_rendered_pages_are_counted_as_page_views_of_their_viewer(
    client: httpx.AsyncClient, fake: FakeServices, broker: MemoryBroker, issuer: TokenIssuer, app: FastAPI
) -> None:
    fake.on("GET", "/sessions/speakers", {"items": [], "total": 0, "page": 1, "page_size": 60, "pages": 0})
    fake.on("GET", "/sessions/speakers/sp1", {"speaker_id": "sp1", "name": "Ada", "sessions": []})
    await client.get("/speakers")
    sign_in(client, issuer, sub="a7")
    await client.get("/speakers/sp1")
    await client.get("/no/such/page")  # errors are not page views
    await app.state.gateway.pageviews.flush_once()
    views = [(e.data["page"], e.data["visitor"]) for e in broker.events("t.gateway.pageviews")]
    assert [page for page, _ in views] == ["/speakers", "/speakers/sp1"]
    assert views[1][1] == "a7" and views[0][1] != "a7"


async def test_links_from_the_services_never_carry_script(client: httpx.AsyncClient, fake: FakeServices) -> None:
    fake.on("GET", "/sessions/s1", {**session_view(1, status="ended"), "recording_url": "javascript:alert(1)",
                                    "you": {"allowed_in": True}, "seats": None})
    response = await client.get("/sessions/s1")
    assert "javascript:" not in response.text
    assert '<a class="button secondary" href="#"' in response.text


async def test_the_whole_agenda_on_one_page_asks_for_the_services_pages_together(client: httpx.AsyncClient,
                                                                                 fake: FakeServices) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["page"])
        items = [session_view(i) for i in range((n - 1) * 100, min(n * 100, 160))]
        return httpx.Response(200, json={"items": items, "total": 160, "page": n, "page_size": 100, "pages": 2})

    fake.on("GET", "/sessions", page)
    response = await client.get("/agenda", params={"page_size": "200"})
    assert response.status_code == 200
    assert sorted(r.url.params["page"] for r in fake.calls("GET", "/sessions")) == ["1", "2"]
    assert response.text.count('class="session-item') == 160
    assert "Session number 0<" in response.text and "Session number 159<" in response.text
    assert 'rel="next"' not in response.text  # one page holds them all


async def test_agenda_marks_the_viewers_own_sessions(client: httpx.AsyncClient, fake: FakeServices,
                                                     issuer: TokenIssuer) -> None:
    fake.on("GET", "/sessions", {"items": [session_view(1), session_view(2)], "total": 2, "page": 1,
                                 "page_size": 50, "pages": 1})
    fake.on("GET", "/sessions/me/schedule", {"items": [{"session": session_view(2), "state": "waiting"}]})
    anonymous = await client.get("/agenda")
    assert "On the waiting list" not in anonymous.text
    sign_in(client, issuer)
    mine = await client.get("/agenda")
    item = mine.text.split('id="s-s2"')[1].split("</article>")[0]
    assert "On the waiting list" in item
    assert "On the waiting list" not in mine.text.split('id="s-s1"')[1].split("</article>")[0]
    client.cookies.clear()
    again = await client.get("/agenda")
    assert "On the waiting list" not in again.text  # the anonymous list kept in the cache has no one's marks


def test_the_time_zone_cookie_is_read_as_the_browser_writes_it() -> None:
    """app.js stores the zone with encodeURIComponent: 'Europe%2FZurich' is Europe/Zurich, not UTC."""
    from plenary_web.render import viewer_zone
    from starlette.requests import Request

    def conn(cookie: str) -> Request:
        return Request({"type": "http", "headers": [(b"cookie", f"tz={cookie}".encode())]})

    assert viewer_zone(conn("Europe%2FZurich"))[1] == "Europe/Zurich"
    assert viewer_zone(conn("Africa/Nairobi"))[1] == "Africa/Nairobi"
    assert viewer_zone(conn("Nowhere%2FAtAll"))[1] == "UTC"
