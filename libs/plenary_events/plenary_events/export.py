"""Generate `contracts/`: one JSON Schema per event version and an AsyncAPI 3 document of the topics.

`python -m plenary_events.export` writes them; `--check` exits 1 when the committed files are stale (a test runs
the check, so a change to an event model and its contract land together).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from plenary_events.registry import load_all
from plenary_events.topics import all_topics


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def render() -> dict[str, str]:
    """Relative path -> file content."""
    registry = load_all()
    files: dict[str, str] = {}
    messages: dict[str, Any] = {}
    channel_messages: dict[str, dict[str, Any]] = {}
    for type_name, model in sorted(registry.types().items()):
        schema = model.model_json_schema()
        schema["$id"] = f"https://plenary.example.org/contracts/{type_name}.json"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        files[f"schemas/{type_name}.json"] = _dump(schema)
        key = type_name.replace(".", "_")
        messages[key] = {
            "name": type_name,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
            "payload": {"$ref": f"schemas/{type_name}.json"},
        }
        topic = registry.topic_of(type_name)
        if topic:
            channel_messages.setdefault(topic, {})[key] = {"$ref": f"#/components/messages/{key}"}
    channels: dict[str, Any] = {}
    for spec in all_topics():
        channels[spec.name.replace(".", "_")] = {
            "address": spec.name,
            "messages": channel_messages.get(spec.name, {}),
            "bindings": {"kafka": {"partitions": spec.partitions, "topicConfiguration": {
                "cleanup.policy": [spec.kafka_configs()["cleanup.policy"]],
                **({"retention.ms": spec.retention_ms} if not spec.compact else {}),
            }}},
        }
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {"title": "Plenary events", "version": "1.0.0",
                 "description": "CloudEvents 1.0 in Kafka binary mode; key = aggregate id; value = data as JSON."},
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {
            "messages": messages,
            "schemas": {"CloudEventsHeaders": {"type": "object", "required": [
                "ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time"], "properties": {
                name: {"type": "string"} for name in (
                    "ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject", "ce_sequence",
                    "content-type", "traceparent")}}},
        },
    }
    files["asyncapi.json"] = _dump(asyncapi)
    return files


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[3] / "contracts"
    files = render()
    if "--check" in argv:
        stale = [p for p, text in files.items() if not (root / p).exists() or (root / p).read_text() != text]
        extra = [str(p.relative_to(root)) for p in root.rglob("*.json") if str(p.relative_to(root)) not in files]
        if stale or extra:
            print("contracts/ is stale; run `make contracts`:", ", ".join(stale + extra))
            return 1
        return 0
    for p in root.rglob("*.json"):
        if str(p.relative_to(root)) not in files:
            p.unlink()
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    print(f"wrote {len(files)} files to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
