"""Kafka plumbing: topic declarations, an idempotent publisher and an at-least-once consumer runner."""

from plenary_kit.kafka.consumer import ConsumerRunner, Handler
from plenary_kit.kafka.publisher import KafkaPublisher, Publisher
from plenary_kit.kafka.topics import TopicSpec, ensure_topics

__all__ = ["ConsumerRunner", "Handler", "KafkaPublisher", "Publisher", "TopicSpec", "ensure_topics"]
