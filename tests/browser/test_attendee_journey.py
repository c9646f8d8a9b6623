"""An attendee's day in the browser: register, sign in with the e-mailed code, build a schedule, join a live session
and ask a question that another attendee sees appear and upvotes; a moderator marks it answered on the moderation
panel and the asker's unread badge goes up without a reload."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def unread(page: Page) -> int:
    """The unread count the badge shows, once the page has loaded it (the inbox is known not to be empty)."""
    badge = page.locator("#unread-badge")
    await expect(badge).to_have_attribute("data-count", re.compile(r"^[1-9]\d*$"))
    return int(await badge.get_attribute("data-count") or 0)


async def register_through_the_page(page: Page, name: str, email: str) -> None:
    await page.goto("/register")
    await page.get_by_label(re.compile(r"^Name\b")).fill(name)
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Country").select_option("SN")
    await page.get_by_label("Gender").select_option("female")
    await page.get_by_label("Stakeholder type").select_option("civil-society")
    await page.get_by_label("Organisation").fill("Dakar Digital")
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def test_an_attendee_registers_signs_in_schedules_and_takes_part_in_a_live_session(
        site: Any, open_page: Any, sign_in: Any, screenshot_dir: Any) -> None:
    # arranged through the API: a session on air now, one tomorrow, and a moderator on the live one's panel
    moderator = await site.register("moderator")
    await site.grant(moderator["id"], ["attendee", "moderator"])
    speaker = await site.create_speaker("Maya Moderator", attendee_id=moderator["id"])
    live = await site.create_session("Digital inclusion, live", starts_in=timedelta(minutes=-5),
                                     moderator_ids=[speaker["speaker_id"]])
    later = await site.create_session("Cybersecurity for small states", starts_in=timedelta(days=1))
    other = await site.register("second-attendee")

    # register, then sign out and back in with the code from the e-mail
    asker = await open_page()
    email = site.unique_email("asker")
    await register_through_the_page(asker, "Awa Asker", email)
    await asker.get_by_role("button", name="Sign out").click()
    await expect(asker.get_by_role("link", name="Sign in")).to_be_visible()
    await sign_in(asker, email)

    # two sessions into the schedule, from their pages
    for session in (live, later):
        await asker.goto(f"/sessions/{session['session_id']}")
        await asker.get_by_role("button", name="Add to my schedule").click()
        await expect(asker.get_by_role("button", name="Remove from my schedule")).to_be_visible()
    await asker.goto("/me/schedule")
    main = asker.get_by_role("main")
    await expect(main.get_by_role("link", name="Digital inclusion, live")).to_be_visible()
    await expect(main.get_by_role("link", name="Cybersecurity for small states")).to_be_visible()
    # times are shown in the browser's time zone, named
    await expect(asker.get_by_role("contentinfo")).to_contain_text("Europe/Zurich")

    # the registration confirmation is in the inbox before the live part, so the badge has settled
    await expect_inbox_lists(asker, "registration")

    # join the live session and ask
    await asker.goto(f"/sessions/{live['session_id']}")
    await asker.get_by_role("link", name="Join the live session").click()
    await expect(asker.get_by_role("link", name="Open the stream")).to_be_visible()
    await expect(asker.locator("#viewer-count")).to_contain_text("watching")

    watcher = await open_page(mobile=True)
    await sign_in(watcher, other["email"])
    await watcher.goto(f"/sessions/{live['session_id']}/live")
    await expect(watcher.get_by_role("heading", name="Questions and answers")).to_be_visible()

    # the moderator has the session's moderation panel open
    chair = await open_page()
    await sign_in(chair, moderator["email"])
    await chair.get_by_role("link", name="Moderation").click()
    await chair.get_by_role("link", name="Moderate: Digital inclusion, live").click()
    await expect(chair.get_by_text("No questions yet.")).to_be_visible()

    question = "How do we bring rural schools online by 2025?"
    await asker.get_by_label("Your question").fill(question)
    await asker.get_by_role("button", name="Ask", exact=True).click()
    asked = asker.locator("#question-list li", has_text=question)
    await expect(asked).to_be_visible()

    # the other attendee sees it arrive without reloading, and upvotes it; everyone sees the vote
    seen = watcher.locator("#question-list li", has_text=question)
    await expect(seen).to_be_visible()
    await seen.get_by_role("button", name="Upvote").click()
    await expect(seen.get_by_role("button", name="Upvote")).to_have_attribute("aria-pressed", "true")
    await expect(seen).to_contain_text("1 vote")
    await expect(asked).to_contain_text("1 vote")
    row = chair.locator("li.question", has_text=question)  # arrived on the panel without a reload
    await expect(row).to_contain_text("1 vote")

    # the moderator marks it answered
    before = await unread(asker)
    await row.get_by_role("button", name="Mark answered").click()
    await expect(row.get_by_role("button", name="Mark unanswered")).to_be_visible()

    # the asker's page shows the answer and the unread badge goes up, live
    await expect(asked).to_have_class(re.compile(r"\banswered\b"))
    await expect(asked.locator(".q-answered")).to_be_visible()
    await expect(asked.locator(".q-pinned")).to_be_hidden()  # answered, not pinned
    await expect(asker.locator("#unread-badge")).to_have_text(re.compile(rf"\b{before + 1} unread"))
    await asker.screenshot(path=str(screenshot_dir / "live-session.png"), full_page=True)
    await expect_inbox_lists(asker, "answered")


async def expect_inbox_lists(page: Page, words: str) -> None:
    """The inbox page lists a notification whose text has `words` (reloaded until it does: delivery is async)."""
    await page.goto("/me/inbox")
    item = page.get_by_role("main").locator("li", has_text=re.compile(words, re.IGNORECASE))
    for _ in range(60):
        if await item.count():
            break
        await page.wait_for_timeout(1000)
        await page.reload()
    await expect(item.first).to_be_visible()
