"""Browser tests: Debian's Chromium, driven by Playwright, against the whole stack.

One stack for the whole browser session (every service and the gateway as processes on free ports, on the session's
real Kafka and document store), a real SMTP server (aiosmtpd) that records the e-mails (sign-in codes are read from it),
an organiser made with the registration service's operator command, and one Chromium. Each test opens its own
browser contexts (separate people) with `open_page`. Chromium and axe-core are installed by `plenary stack install`
(plenary_kit.stack.browser); the fixture installs what is missing the same way.

Tests reach the helpers through the `site` fixture (pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from plenary_kit.stack.browser import CHROMIUM_ARGS, install_browser_tools
from plenary_kit.stack.processes import SERVICES, StackError, StackPaths, find_root
from plenary_kit.testing.mail import Mailbox as KitMailbox
from plenary_kit.testing.mail import mail_server
from plenary_kit.testing.services import ServiceStack
from plenary_kit.testing.stack_fixtures import KEEP_TEST_DATA
from plenary_kit.testing.waiting import eventually

WAIT = 90.0  # a guard against hanging, not a measure: the machine is shared and may be busy
ROOT = find_root()
SCREENSHOTS = ROOT / "docs" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")
CODE = re.compile(r"\b(\d{6})\b")
expect.set_options(timeout=30_000)  # what the pages show next may wait for an event on a busy machine


# ------------------------------------------------------------------------------------------------------- e-mail
class Mailbox(KitMailbox):
    """The kit's recording SMTP handler, with the sign-in code of a person's latest code e-mail."""

    def to(self, email: str, kind: str | None = None) -> list[EmailMessage]:
        return self.received(kind, to=email)

    async def code_for(self, email: str, *, seen: int = 0, timeout: float = WAIT) -> str:
        """The sign-in code of the (seen+1)-th code e-mail to `email`, once it has arrived."""

        async def arrived() -> list[EmailMessage]:
            found = self.to(email, "signin_code")
            return found if len(found) > seen else []

        message = (await eventually(arrived, timeout=timeout, interval=0.2))[seen]
        match = CODE.search(str(message["Subject"])) or CODE.search(message.get_body(("plain",)).get_content())
        assert match, f"no 6-digit code in the sign-in e-mail {message['Subject']!r}"
        return match.group(1)


# --------------------------------------------------------------------------------------------------------- site
def unique_email(label: str) -> str:
    return f"{label}.{uuid.uuid4().hex[:8]}@browser-test.example.org"


@dataclass
class Site:
    """The running stack as the tests use it: the gateway's URL, the mailbox, an organiser's token and API
    shortcuts to arrange what a test is not about (the browser does what the test is about)."""

    stack: ServiceStack
    mailbox: Mailbox
    http: httpx.AsyncClient
    organiser_token: str
    organiser_email: str
    screenshots: Path = SCREENSHOTS
    unique_email = staticmethod(unique_email)

    @property
    def url(self) -> str:
        return self.stack.url("gateway")

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}"

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, token: str | None = None, *, expect_status: int | tuple[int, ...]
                   = (200, 201, 202, 204), **kwargs: Any) -> Any:
        headers = {**(self.auth(token) if token else {}), **kwargs.pop("headers", {})}
        response = await self.http.request(method, f"/api{path}", headers=headers, **kwargs)
        wanted = (expect_status,) if isinstance(expect_status, int) else expect_status
        assert response.status_code in wanted, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content and "json" in response.headers.get("content-type", "") else None

    async def register(self, label: str, **overrides: Any) -> dict[str, Any]:
        """Register someone through the API; their e-mail, id and tokens."""
        body = {"name": f"{label.title()} Tester", "email": unique_email(label), "country": "KE",
                "gender": "female", "stakeholder_type": "civil-society", "organisation": "Test Org",
                "consents": {"directory": False, "exhibitor_contact": True}, **overrides}
        out = await self.call("POST", "/registration/attendees", json=body, expect_status=201)
        return {"email": body["email"], "name": body["name"], "id": out["attendee"]["id"],
                "access_token": out["access_token"]}

    async def grant(self, attendee_id: str, roles: list[str], exhibitor_id: str | None = None) -> None:
        body: dict[str, Any] = {"roles": roles}
        if exhibitor_id:
            body["exhibitor_id"] = exhibitor_id
        await self.call("PUT", f"/registration/attendees/{attendee_id}/roles", self.organiser_token, json=body)

    async def create_session(self, title: str, *, starts_in: timedelta, minutes: int = 90,
                             **fields: Any) -> dict[str, Any]:
        starts = datetime.now(UTC).replace(microsecond=0) + starts_in
        body = {"title": title, "type": "high-level-policy-session", "description": f"About {title.lower()}.",
                "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=minutes)).isoformat(),
                "tags": {"action_lines": ["C7"], "sdgs": [4], "covid19": False},
                "stream_url": "https://stream.example.org/live/" + uuid.uuid4().hex[:8], **fields}
        return await self.call("POST", "/sessions", self.organiser_token, json=body, expect_status=201)

    async def create_speaker(self, name: str, attendee_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "organisation": "Test Org", "country": "KE"}
        if attendee_id:
            body["attendee_id"] = attendee_id
        return await self.call("POST", "/sessions/speakers", self.organiser_token, json=body, expect_status=201)

    async def create_exhibitor(self, organisation: str) -> dict[str, Any]:
        body = {"organisation": organisation, "stakeholder_type": "private-sector", "country": "CH",
                "description": f"{organisation} shows its work on digital inclusion."}
        return await self.call("POST", "/exhibition/exhibitors", self.organiser_token, json=body, expect_status=201)

    async def facts(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/stats/facts")
        return result


# ------------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def browser_tools() -> Any:
    try:
        return install_browser_tools(StackPaths(ROOT))
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    async with mail_server(box) as port:
        yield box, port


@pytest.fixture(scope="session")
async def site(infra: Any, mailbox: tuple[Mailbox, int], browser_tools: Any,
               request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    box, smtp_port = mailbox
    # every browser is 127.0.0.1: the per-client limits of registration and code requests are not under test here
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_TIMEOUT_SECONDS": "5",
           "EMAIL_POLL_SECONDS": "0.2", "REGISTER_RATE_PER_CLIENT": "0", "CODE_RATE_PER_CLIENT": "0",
           "CODE_RATE_PER_EMAIL": "0"}
    stack = ServiceStack(kafka_bootstrap=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri,
                         names=list(SERVICES), extra_env=env)
    try:
        await stack.ensure_topics()
        await stack.astart(timeout=180)
        email = unique_email("organiser")
        token = await stack.organiser_token(email, ttl_seconds=7200)
        async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30) as http:
            site = Site(stack=stack, mailbox=box, http=http, organiser_token=token, organiser_email=email)
            await wait_until_live(site)
            yield site
    finally:
        stack.stop()
        if os.environ.get(KEEP_TEST_DATA) != "1" and not request.session.testsfailed:  # logs kept on failure
            shutil.rmtree(stack.base_dir, ignore_errors=True)


async def wait_until_live(site: Site) -> None:
    """Every upstream ready and the gateway's live feed consuming, so the first test does not race start-up."""

    async def ready() -> bool:
        body = (await site.http.get("/api/status")).json()
        services = body.get("services", {})
        return (body["gateway"].get("live_feed") == "consuming"
                and body["gateway"].get("facts_stream") == "connected"
                and all(row.get("status") == "ready" for row in services.values()))

    await eventually(ready, timeout=WAIT, interval=0.5)


POPULATION = 300
SESSION_TITLES = ("Bridging the digital divide", "ICTs and the SDGs", "Cybersecurity for all",
                  "E-health after the pandemic", "Digital skills for women", "Broadband for rural schools",
                  "Open data for cities", "AI and ethics", "Media literacy online", "Community networks")
SPEAKER_NAMES = ("Amina Diallo", "Carlos Mendes", "Mei Lin", "Olga Petrova", "Rahul Sharma", "Fatima Zahra",
                 "John Okafor", "Sofia Rossi", "Kenji Sato", "Laura Gómez", "Nadia Haddad", "Peter Novak",
                 "Grace Mwangi", "Ahmed Karim", "Ana Silva", "Lars Eriksen", "Priya Nair", "Tomás Ruiz",
                 "Chloé Martin", "Yusuf Demir")


@pytest.fixture(scope="session")
async def populated(site: Site) -> dict[str, Any]:
    """A small forum on top of the stack, so charts, the agenda and the hall have something to show: 300
    attendees shaped like WSIS 2020's (the demo generator), 30 tagged sessions and 15 exhibitors. Registered on
    the organiser's behalf, as the demo loader does."""
    from plenary_demo.population import generate_attendees
    from plenary_events.reference import EXHIBITOR_STAKEHOLDER_TYPES

    people = list(generate_attendees(POPULATION, seed=2020))
    queue = list(reversed(people))

    async def register() -> None:
        while queue:
            body = queue.pop()
            await site.call("POST", "/registration/attendees", site.organiser_token, json=body,
                            headers={"Idempotency-Key": f"browser-{body['email']}"}, expect_status=(201, 409))

    await asyncio.gather(*(register() for _ in range(12)))
    speakers = [(await site.create_speaker(name))["speaker_id"] for name in SPEAKER_NAMES]
    sessions = []
    for n in range(30):  # a speaker's sessions (n, n+10, n+20) fall on different days: no clash
        lines = [f"C{(n % 11) + 1}", f"C{((n + 4) % 11) + 1}", "C7"]
        sessions.append(await site.create_session(
            f"{SESSION_TITLES[n % len(SESSION_TITLES)]} ({n + 1})", starts_in=timedelta(days=1 + n // 8, hours=n % 8),
            speaker_ids=[speakers[n % 10], speakers[10 + n % 10]],
            tags={"action_lines": sorted(set(lines)), "sdgs": [(n % 17) + 1, 4, 9], "covid19": n % 3 == 0}))
    types = EXHIBITOR_STAKEHOLDER_TYPES[:3]
    exhibitors = []
    for n in range(15):
        body = {"organisation": f"Exhibitor {n + 1:02d} for digital development",
                "stakeholder_type": types[n % len(types)], "country": ("CH", "KE", "BR", "IN", "FR")[n % 5],
                "description": "Shows its projects for the Information Society."}
        exhibitors.append(await site.call("POST", "/exhibition/exhibitors", site.organiser_token, json=body,
                                          expect_status=201))

    async def counted() -> bool:
        facts = await site.facts()
        return (facts["attendees"]["total"] >= POPULATION and facts["sessions"]["total"] >= 30
                and facts["exhibitors"]["total"] >= 15)

    await eventually(counted, timeout=WAIT * 2, interval=0.5)
    return {"sessions": sessions, "exhibitors": exhibitors}


@pytest.fixture(scope="session")
async def browser(browser_tools: Any) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(browser_tools.chromium),
                                                    args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            await launched.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()
FAILURES = ROOT / ".plenary" / "browser-failures"


@pytest.fixture
async def open_page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> AsyncIterator[OpenPage]:
    """open_page(locale="en-GB", timezone="Europe/Zurich", mobile=False) -> a page in a fresh context (a person
    of their own: own cookies). Closed after the test; when the test failed, each page's screenshot and HTML are
    kept in .plenary/browser-failures/<test>/ with
    the page's console messages and requests."""
    contexts: list[BrowserContext] = []
    journals: dict[Page, list[str]] = {}

    async def make(*, locale: str = "en-GB", timezone: str = "Europe/Zurich", mobile: bool = False) -> Page:
        viewport = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 860}
        context = await browser.new_context(base_url=site.url, locale=locale, timezone_id=timezone,
                                            viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
        context.set_default_timeout(WAIT * 1000)
        contexts.append(context)
        page = await context.new_page()
        trail: list[str] = []
        journals[page] = trail
        page.on("console", lambda m: trail.append(f"console {m.type}: {m.text}"))
        page.on("requestfailed", lambda r: trail.append(f"failed {r.method} {r.url}: {r.failure}"))
        page.on("response", lambda r: trail.append(f"{r.status} {r.request.method} {r.url}"))
        return page

    yield make
    if request.node.stash.get(FAILED, False):
        folder = FAILURES / request.node.name
        folder.mkdir(parents=True, exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                with contextlib.suppress(Exception):
                    await page.screenshot(path=str(folder / f"page-{n}-{m}.png"), full_page=True)
                    (folder / f"page-{n}-{m}.html").write_text(f"<!-- {page.url} -->\n" + await page.content())
                    (folder / f"page-{n}-{m}.log").write_text("\n".join(journals.get(page, [])))
        print(f"\nscreenshots and HTML of the test's pages: {folder}")
    for context in contexts:
        with contextlib.suppress(Exception):
            await context.close()


SignIn = Callable[[Page, str], Awaitable[None]]


@pytest.fixture
def sign_in(site: Site) -> SignIn:
    """sign_in(page, email): through the pages, with the code read from the SMTP server."""

    async def run(page: Page, email: str) -> None:
        seen = len(site.mailbox.to(email, "signin_code"))
        await page.goto("/signin")
        await page.get_by_label("E-mail address").fill(email)
        await page.get_by_role("button", name="Send me a code").click()
        code = await site.mailbox.code_for(email, seen=seen)
        await page.get_by_label("Code").fill(code)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    return run


Axe = Callable[[Page], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def axe(browser_tools: Any) -> Axe:
    """axe(page) -> the serious and critical violations axe-core finds on the page (WCAG 2.x A and AA rules)."""
    script = Path(browser_tools.axe).read_text()

    async def run(page: Page) -> list[dict[str, Any]]:
        if not await page.evaluate("typeof window.axe !== 'undefined'"):
            await page.add_script_tag(content=script)
        result = await page.evaluate("""() => axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})""")
        return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                 "nodes": [{"target": n["target"], "html": n["html"][:200], "why": n["failureSummary"][:300]}
                           for n in v["nodes"][:3]]}
                for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]

    return run


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

