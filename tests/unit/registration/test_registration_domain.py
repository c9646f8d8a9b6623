"""Pure rules of the registration domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from registration import domain


def test_attendee_ids_are_uuid7_and_sort_in_creation_order() -> None:
    ids = []
    for _ in range(3):
        ids.append(domain.new_attendee_id())
        # ids made in the same millisecond have no order between them
        start = datetime.now(UTC)
        while datetime.now(UTC) - start < timedelta(milliseconds=2):
            pass
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_idempotent_ids_depend_on_scope_and_key() -> None:
    assert domain.idempotent_attendee_id("anonymous", "k") == domain.idempotent_attendee_id("anonymous", "k")
    assert domain.idempotent_attendee_id("anonymous", "k") != domain.idempotent_attendee_id("org-1", "k")


def test_refresh_tokens_name_their_family_and_store_only_a_hash() -> None:
    token, family, token_h = domain.new_refresh_token("a-1")
    assert domain.parse_refresh_token(token) == ("a-1", family, token_h)
    assert token.split(".")[2] not in token_h
    assert domain.parse_refresh_token("a-1.nofamily.secret") is None
    assert domain.parse_refresh_token("a-1..") is None


def test_families_to_drop_removes_expired_and_oldest_beyond_the_cap() -> None:
    now = datetime(2020, 7, 6, tzinfo=UTC)
    refresh = {
        "fold": {"h": "x", "exp": now - timedelta(seconds=1), "created_at": now - timedelta(days=31)},
        **{f"f{i}": {"h": "x", "exp": now + timedelta(days=i + 1), "created_at": now + timedelta(minutes=i)}
           for i in range(4)},
    }
    assert domain.families_to_drop(refresh, now, keep=3) == ["fold", "f0", "f1"]
    assert domain.families_to_drop(refresh, now, keep=10) == ["fold"]


def test_emails_are_normalised_and_countries_upper_cased() -> None:
    cmd = domain.Register(name=" Ada ", email="Ada@Example.ORG", country=" ch", gender="female",
                          stakeholder_type="academia")
    assert (cmd.name, cmd.email, cmd.country) == ("Ada", "Ada@example.org", "CH")
    with pytest.raises(ValidationError) as info:
        domain.Register(name="Ada", email="ada@example.org", country="XK", gender="female",
                        stakeholder_type="academia")
    assert info.value.errors()[0]["loc"] == ("country",)


def test_profile_changes_only_list_what_differs() -> None:
    now = datetime(2020, 7, 6, tzinfo=UTC)
    cmd = domain.Register(name="Ada", email="ada@example.org", country="CH", gender="female",
                          stakeholder_type="academia")
    doc = domain.new_attendee_document("a-1", cmd, now)
    same = domain.UpdateProfile(name="Ada", country="ch")
    assert domain.profile_changes(doc, same, now) == {}
    change = domain.UpdateProfile(email="ADA@example.org", organisation="CERN")
    changes = domain.profile_changes(doc, change, now)
    assert changes["email"] == "ADA@example.org" and "email_lc" not in changes  # same address, other case
    assert changes["search"] == "ada\nada@example.org\ncern"


def test_csv_cells_never_start_a_formula() -> None:
    assert domain._csv_safe("=SUM(A1)") == "'=SUM(A1)"
    assert domain._csv_safe("-1") == "'-1"
    assert domain._csv_safe("Ana") == "Ana"
