"""Enabling the Kafka way in for an account (the operator's endpoint and console share it)."""

from __future__ import annotations

import asyncio
import uuid

from front_door import queries
from front_door.context import Context
from front_door.problems import not_found
from producers.topic_admin import ensure_named_topics
from runtime.stream_topics import ingress_topic, results_topic
from schemas.codec import new_event


async def enable(ctx: Context, account_id: uuid.UUID) -> dict[str, str]:
    """Create the account's topics, then record that it streams (the projection publishes
    its calls' changes to the results topic from then on)."""
    if await queries.account(ctx.pool, account_id) is None:
        raise not_found("account")
    names = topics(account_id)
    await asyncio.to_thread(
        ensure_named_topics,
        ctx.settings.require_bootstrap(),
        list(names.values()),
        ctx.settings.topic_partitions,
        ctx.settings.topic_replication,
    )
    await ctx.append_and_wait(new_event("AccountStreamsEnabled", account_id=account_id, **names))
    return names


def topics(account_id: uuid.UUID) -> dict[str, str]:
    return {"ingress_topic": ingress_topic(account_id), "results_topic": results_topic(account_id)}
