from __future__ import annotations

import pytest
from plenary_kit.envelope import Envelope, EnvelopeError, EventData, EventRegistry


def make_registry() -> EventRegistry:
    reg = EventRegistry()

    @reg.register("org.plenary.test.thing.made.v1")
    class MadeV1(EventData):
        name: str

    @reg.register("org.plenary.test.thing.made.v2")
    class MadeV2(EventData):
        name: str
        colour: str

    @reg.upcaster("org.plenary.test.thing.made.v1", "org.plenary.test.thing.made.v2")
    def v1_to_v2(data: dict) -> dict:
        return {**data, "colour": "unknown"}

    return reg


def test_record_round_trip_keeps_cloudevents_attributes() -> None:
    env = Envelope.new("org.plenary.test.thing.made.v2", source="/t", subject="thing-1",
                       data={"name": "a", "colour": "red"}, sequence=3)
    key, value, headers = env.to_record()
    names = {h for h, _ in headers}
    assert {"ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject", "content-type",
            "traceparent"} <= names
    assert key == b"thing-1"
    back = Envelope.from_record(key, value, headers)
    assert back.id == env.id and back.type == env.type and back.data == env.data and back.sequence == 3
    assert back.trace_id == env.trace_id and back.trace_id


def test_old_version_is_upcast_in_the_deserializer() -> None:
    reg = make_registry()
    env = Envelope.new("org.plenary.test.thing.made.v1", source="/t", subject="x", data={"name": "a"})
    decoded = reg.decode(Envelope.from_record(*env.to_record()))
    assert decoded.type == "org.plenary.test.thing.made.v2"
    assert decoded.data.colour == "unknown"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "headers", "message"),
    [
        (b"{}", [("ce_type", b"x")], "missing CloudEvents headers"),
        (b"not json", [("ce_id", b"1"), ("ce_type", b"t.v1"), ("ce_source", b"s"), ("ce_specversion", b"1.0")],
         "not JSON"),
        (b"[]", [("ce_id", b"1"), ("ce_type", b"t.v1"), ("ce_source", b"s"), ("ce_specversion", b"1.0")],
         "JSON object"),
    ],
)
def test_malformed_records_are_refused(value: bytes, headers: list, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        Envelope.from_record(b"k", value, headers)


def test_invalid_data_and_unknown_types_are_refused() -> None:
    reg = make_registry()
    bad = Envelope.new("org.plenary.test.thing.made.v2", source="/t", subject="x", data={"name": "a"})
    with pytest.raises(EnvelopeError, match="invalid"):
        reg.decode(bad)
    unknown = Envelope.new("org.plenary.test.other.v1", source="/t", subject="x", data={})
    with pytest.raises(EnvelopeError, match="unknown event type"):
        reg.decode(unknown)


def test_type_names_must_carry_a_version() -> None:
    reg = EventRegistry()
    with pytest.raises(ValueError, match="version"):
        reg.register("org.plenary.test.thing.made")
