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
    "messages_unread": {"count": 3, "senders": ["Kofi", "Li"], "conversations": 2, "more": 1, "messages": [
        {"author": "Kofi <K>", "text": "See you at 14:00 & bring slides", "sent_at": START, "conversation": None},
        {"author": "Li", "text": "Agreed", "sent_at": START, "conversation": "C7 <e-agriculture>"}]},
    "lead_shared": {"event": {"exhibitor_id": "x1", "attendee_id": "a9"}},
}


def test_every_kind_has_templates_that_render_subject_summary_text_and_html() -> None:
    renderer = Renderer(forum_name="WSIS Forum 2020", base_url="https://forum.example.org")
    me = Recipient("a1", "Amina <Diallo>", "amina@example.org", "Africa/Dakar")
    assert set(SAMPLES) == set(KINDS)
    for kind, context in SAMPLES.items():
        out = renderer.render(kind, context, recipient=me, link="/x", email=True,
                              unsubscribe_url="https://forum.example.org/u")
        headline = renderer.render(kind, context, recipient=me, link="/x")
        assert out.subject and out.text and out.html and headline.summary, kind
        assert headline.subject == out.subject, kind
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
    assert parsed.get_body(("plain",)).get_content() == "Hi\r\n"  # as it goes over SMTP: CRLF line ends
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hi</p>"
    assert (message.mail_from, message.rcpt_to) == ("forum@example.org", "amina@example.org")
    assert b"\n" not in raw.replace(b"\r\n", b"") and raw.endswith(b"\r\n")
    assert all(not d for part in parsed.walk() for d in part.defects)


def test_composed_emails_survive_long_and_international_values() -> None:
    text = "Bonjour Ámina,\n\n.a line starting with a dot\n" + "é " * 300 + "\ntrailing space \n= sign\n"
    doc = {"_id": "n2", "kind": "announcement", "to_name": "Ámina \"Q\" Diallo " + "long " * 30,
           "to_address": "amina@example.org", "subject": "Ünïcode " + "subject " * 40, "text": text,
           "html": "<p>Ámina &amp; co</p>\n" + "<div>x</div>" * 300, "queued_at": START}
    for html in (doc["html"], None):
        raw = compose({**doc, "html": html}, sender="Forum <forum@example.org>", reply_to=None).as_bytes()
        assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
        assert b"\n" not in raw.replace(b"\r\n", b"")
        parsed = message_from_bytes(raw, policy=default)
        assert all(not d for part in parsed.walk() for d in part.defects)
        assert parsed["Subject"] == " ".join(doc["subject"].split())
        assert parsed["To"].addresses[0].display_name == doc["to_name"]
        assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
        if html:
            assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == html


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


def test_a_headline_that_does_not_name_the_recipient_is_the_same_for_everyone() -> None:
    """The deliverer renders such a subject and summary once per notice (15,000 people, one rendering)."""
    renderer = Renderer(forum_name="WSIS Forum 2020", base_url="https://forum.example.org")
    amina = Recipient("a1", "Amina", "amina@example.org", "Africa/Dakar")
    kofi = Recipient("a2", "Kofi", "kofi@example.org", "Asia/Tokyo")
    shared = [kind for kind in KINDS if renderer.headline_keys(kind) == frozenset()]
    assert "announcement" in shared and "session_reminder" not in shared  # a reminder shows the person's time
    assert renderer.headline_keys("session_reminder") == frozenset({"timezone"})
    assert renderer.headline_keys("registration_confirmed") == frozenset({"name"})
    for kind in KINDS:
        one = renderer.render(kind, SAMPLES[kind], recipient=amina, link="/x")
        other = renderer.render(kind, SAMPLES[kind], recipient=kofi, link="/x")
        if kind in shared:
            assert (one.subject, one.summary) == (other.subject, other.summary), kind
        keys = renderer.headline_keys(kind)
        if keys is not None and not keys & {"name", "attendee_id"}:  # the same for people in one time zone
            same_zone = renderer.render(kind, SAMPLES[kind], recipient=Recipient("a3", "Li", None, amina.timezone),
                                        link="/x")
            assert (one.subject, one.summary) == (same_zone.subject, same_zone.summary), kind


def test_an_email_plan_gives_every_person_exactly_their_own_email() -> None:
    """Broadcasts render once per time zone and put each name in; the result must equal rendering per person."""
    renderer = Renderer(forum_name="WSIS Forum 2020", base_url="https://forum.example.org")
    people = [Recipient("a1", "Amina <Diallo> & Co", "amina@example.org", "Africa/Dakar"),
              Recipient("a2", "Kofi  Annan-Mensah", "kofi@example.org", "Africa/Dakar"),
              Recipient("a3", "Lǐ Wěi", "li@example.org", "Asia/Shanghai"),
              Recipient("a4", "O'Neil \"Ned\"", "ned@example.org", None)]
    assert renderer.email_keys("announcement") == frozenset()  # one rendering for everyone
    assert renderer.email_keys("session_reminder") == frozenset({"timezone"})  # one per time zone
    for kind in KINDS:
        plan = renderer.email_plan(kind, SAMPLES[kind], link="/x", reason="Because.")
        for n, person in enumerate(people):
            url = None if n == 3 else f"https://forum.example.org/u?a={person.attendee_id}&k={kind}&s=x"
            direct = renderer.render(kind, SAMPLES[kind], recipient=person, link="/x", email=True,
                                     unsubscribe_url=url, reason="Because.")
            planned = plan.render(person, url)
            assert (planned.subject, planned.text, planned.html) == (direct.subject, direct.text, direct.html), \
                (kind, person.name)
