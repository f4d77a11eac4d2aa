"""Creates the platform's topics (idempotently) before anything produces or consumes."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from schemas.topics import ALL_TOPICS


def ensure_topics(
    bootstrap: str, partitions: int, replication: int = 1, timeout: float = 30.0
) -> None:
    """Create every topic that does not exist yet: `partitions` partitions, one for the
    low-volume ones; `replication` copies of each (FLASHCALL_TOPIC_REPLICATION)."""
    create_missing(
        bootstrap,
        [
            NewTopic(
                t.name,
                num_partitions=1 if t.low_volume else partitions,
                replication_factor=replication,
                config=dict(t.config),
            )
            for t in ALL_TOPICS
        ],
        timeout,
    )


def ensure_named_topics(
    bootstrap: str, names: list[str], partitions: int, replication: int = 1, timeout: float = 30.0
) -> None:
    """Create these topics (an account's stream topics) unless they exist."""
    create_missing(
        bootstrap,
        [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in names],
        timeout,
    )


def create_missing(bootstrap: str, topics: list[NewTopic], timeout: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [t for t in topics if t.topic not in existing]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"could not create topic {name}: {exc}") from exc
