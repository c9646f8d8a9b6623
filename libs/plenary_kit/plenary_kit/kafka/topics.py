"""Topics are declared in code; start-up creates the missing ones and leaves the rest alone."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    compact: bool = False
    retention_ms: int = 30 * DAY_MS
    configs: dict[str, str] = field(default_factory=dict)

    def kafka_configs(self) -> dict[str, str]:
        configs = {"cleanup.policy": "compact" if self.compact else "delete"}
        if not self.compact:
            configs["retention.ms"] = str(self.retention_ms)
        configs.update(self.configs)
        return configs


def dlq_topic(group_id: str) -> str:
    """Every consumer group has a dead-letter topic `<group>.dlq`."""
    return f"{group_id}.dlq"


async def ensure_topics(
    bootstrap_servers: str, specs: list[TopicSpec], prefix: str = "", replication_factor: int | None = None
) -> list[str]:
    """Create the declared topics that do not exist yet; return the names created.

    The replication factor comes from KAFKA_REPLICATION_FACTOR (1 for the single local broker; 3 in production).
    """
    if replication_factor is None:
        replication_factor = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=f"{prefix}{spec.name}",
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=spec.kafka_configs(),
            )
            for spec in specs
            if f"{prefix}{spec.name}" not in existing
        ]
        created: list[str] = []
        if wanted:
            try:
                await admin.create_topics(wanted)
                created = [t.name for t in wanted]
            except TopicAlreadyExistsError:
                created = []
            # metadata propagates asynchronously; wait until every topic is visible
            for _ in range(50):
                names = set(await admin.list_topics())
                if all(t.name in names for t in wanted):
                    break
                await asyncio.sleep(0.1)
        return created
    finally:
        await admin.close()
