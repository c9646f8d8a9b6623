"""The catalogue, the templates, message composition and the pure rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import aiosmtplib
import pytest
from notifications import catalogue
from notifications.domain import (
    KINDS,
    Notice,
    Recipient,
    RuleError,
    channels_for,
    effective_preferences,
    retry_delay,
    segment_rule,
    validate_preference_change,
)
from notifications.mail import classify, compose
from notifications.rendering import Renderer
from plenary_events.registry import load_all
from plenary_events.topics import CONSUMER_GROUPS, DOMAIN_TOPICS

START = datetime(2020, 7, 7, 13, 0, tzinfo=UTC)
SAMPLES = {
    "signin_code": {"code": "123456", "expires_at": START, "minutes": 10},
    "registration_confirmed": {},
    "announcement": {"title": "Programme <update>", "body": "First & foremost.\n\nSecond."},
    "session_reminder": {"session": {"title": "HLPS 1", "starts_at": START}, "minutes": 15},
    "session_rescheduled": {"session": {"title": "HLPS 1", "starts_at": START, "ends_at": START + timedelta(hours=1)},
                            "previous_starts_at": START - timedelta(days=1)},
    "session_cancelled": {"session": {"title": "HLPS 1", "starts_at": START}},
    "waitlist_seat": {"session": {"title": "HLPS 1", "starts_at": START}},
    "question_answered": {"session": {"title": "HLPS 1"}, "event": {}},
    "meeting_requested": {"other": {"name": "Kofi"}, "event": {"subject": "Coffee?"}},
    "meeting_accepted": {"other": {"name": "Kofi"}, "event": {"subject": "Coffee?", "starts_at": START}},
    "meeting_declined": {"other": {"name": "Kofi"}, "event": {}},
    "meeting_cancelled": {"other": {"name": "Kofi"}, "event": {}},
    "messages_unread": {"count": 3, "senders": ["Kofi", "Li"]},
    "lead_shared": {"event": {"exhibitor_id": "x1", "attendee_id": "a9"}},
}


def test_every_kind_has_templates_that_render_subject_summary_text_and_html() -> None:
    renderer = Renderer(forum_name="WSIS Forum 2020", base_url="https://forum.example.org")
    me = Recipient("a1", "Amina <Diallo>", "amina@example.org", "Africa/Dakar")
    assert set(SAMPLES) == set(KINDS)
    for kind, context in SAMPLES.items():
        out = renderer.render(kind, context, recipient=me, link="/x", email=True,
                              unsubscribe_url="https://forum.example.org/u")
        assert out.subject and out.summary and out.text and out.html, kind
        assert "\n" not in out.subject, kind
        assert "Amina <Diallo>" in out.text, kind  # text is not escaped
        assert "Amina &lt;Diallo&gt;" in out.html and "<Diallo>" not in out.html, kind  # HTML is
        assert "https://forum.example.org/u" in out.text and "https://forum.example.org/u" in out.html, kind
        assert "Undefined" not in out.text + out.html, kind


def test_times_are_shown_in_the_persons_time_zone() -> None:
    renderer = Renderer(forum_name="F", base_url="https://f")
    out = renderer.render("session_reminder", SAMPLES["session_reminder"], email=True,
                          recipient=Recipient("a1", "A", "a@example.org", "Asia/Tokyo"))
    assert "Tuesday 7 July 2020, 22:00 JST" in out.text


def test_every_route_names_a_known_kind_and_every_kind_its_lane() -> None:
    for route in catalogue.ROUTES:
        assert route.kind in KINDS, route
    assert KINDS["signin_code"].lane.value == "priority"
    assert KINDS["announcement"].lane.value == "bulk"


def test_the_groups_the_service_consumes_are_declared_with_their_dead_letter_topics() -> None:
    declared = {t.name for t in DOMAIN_TOPICS}
    groups = catalogue.subscriptions(declared)
    for group, topics in groups.items():
        if topics:
            assert f"notifications.{group}" in CONSUMER_GROUPS, f"add 'notifications.{group}' to CONSUMER_GROUPS"
    assert groups["signin"] == ["registration.signin"]  # sign-in codes have a consumer of their own
    assert "sessions.enrolments" in groups["sessions"] and "sessions.qa" in groups["sessions"]


def test_wired_event_types_exist() -> None:
    registry = load_all()
    for event_type in catalogue.WIRED_IN_HANDLERS:
        assert event_type in registry.types(), event_type
    for route in catalogue.ROUTES:
        if route.topic in {t.name for t in DOMAIN_TOPICS}:
            assert route.event_type in registry.types(), f"{route.event_type} is not registered"


def test_compose_sets_the_headers_mail_clients_understand() -> None:
    doc = {"_id": "n1", "kind": "announcement", "to_name": "Amina Diallo", "to_address": "amina@example.org",
           "subject": "Hello, ça va", "text": "Hi\n", "html": "<p>Hi</p>", "queued_at": START,
           "unsubscribe_url": "https://f/api/notifications/unsubscribe?a=a1&k=announcement&s=x"}
    message = compose(doc, sender="Forum über <forum@example.org>", reply_to="Help <help@example.org>")
    raw = message.as_bytes()
    assert raw.isascii()  # non-ASCII names and bodies are encoded
    parsed = message_from_bytes(raw, policy=default)
    assert parsed["From"] == "Forum über <forum@example.org>"
    assert parsed["Reply-To"] == "Help <help@example.org>"
    assert parsed["To"] == "Amina Diallo <amina@example.org>"
    assert parsed["Message-ID"] == "<n1@example.org>"
    assert parsed["List-Unsubscribe"].strip() == "<https://f/api/notifications/unsubscribe?a=a1&k=announcement&s=x>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Subject"] == "Hello, ça va"
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content() == "Hi\n"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hi</p>"


def test_smtp_errors_are_classified_as_permanent_or_worth_retrying() -> None:
    assert classify(aiosmtplib.SMTPDataError(451, "try later")).permanent is False
    assert classify(aiosmtplib.SMTPDataError(554, "rejected")).permanent is True
    refused = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@y")])
    failure = classify(refused)
    assert failure.permanent is True and failure.code == 550 and "no such user" in failure.reason
    assert classify(aiosmtplib.SMTPConnectError("refused")).permanent is False
    assert classify(aiosmtplib.SMTPReadTimeoutError("slow")).permanent is False
    assert classify(ConnectionRefusedError(111, "Connection refused")).permanent is False


def test_backoff_grows_is_capped_and_spreads() -> None:
    delays = [retry_delay(n, 5, 900, salt="m1") for n in range(1, 12)]
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert 5 <= delays[0] <= 6.25 and delays[-1] == 900
    assert retry_delay(3, 5, 900, salt="m1") != retry_delay(3, 5, 900, salt="m2")


def test_preferences_and_channels() -> None:
    assert validate_preference_change({"announcement": {"email": False}}) == {"announcement": {"email": False}}
    with pytest.raises(RuleError, match="cannot be turned off"):
        validate_preference_change({"signin_code": {"email": False}})
    effective = effective_preferences({"announcement": {"email": False}, "signin_code": {"email": False}})
    assert effective["announcement"] == {"inbox", "live"}
    assert effective["signin_code"] == {"email"}  # a stored "off" for a mandatory channel has no effect
    inbox_only = Notice(key="k", kind="announcement", channels=frozenset({"inbox"}))
    assert channels_for(inbox_only, None) == {"inbox"}
    code = Notice(key="k", kind="signin_code", channels=frozenset())
    assert channels_for(code, {"email": False}) == {"email"}


def test_segments_validate_against_the_reference_vocabularies() -> None:
    rule = segment_rule(roles=["speaker"], regions=["B"])
    assert rule.matches({"roles": ["attendee", "speaker"], "region": "B"})
    assert not rule.matches({"roles": ["attendee"], "region": "B"})
    assert segment_rule().everyone and segment_rule().describe() == "everyone"
    with pytest.raises(RuleError, match="'Z' is not an ITU region"):
        segment_rule(regions=["Z"])
