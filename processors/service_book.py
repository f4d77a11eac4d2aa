"""The decisions processor's view of its services within one transaction: rows locked in id
order, credit changed in memory, then written back with the events the changes call for
(cut off, restored, credit low)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from core.credit import Credit
from core.ids import derived_id
from processors.batches import RetryLater
from processors.outbox import Outbox
from schemas.codec import Event, new_event


class ServiceNotYetKnown(RetryLater):
    """A request for a service whose creation this processor has not applied yet (the two
    arrive on different topics); the batch is tried again shortly."""


@dataclass
class ServiceState:
    id: Any
    status: str
    credit: Credit
    last_price: int | None
    cut_off: bool
    low: bool
    credit_seq: int

    def next_seq(self) -> int:
        """Number the next change of this service's credit (readers keep the highest)."""
        self.credit_seq += 1
        return self.credit_seq

    @property
    def next_price(self) -> int:
        # Before its first call a service is judged at the smallest price: is anything left?
        return self.last_price if self.last_price is not None else 1


COLUMNS = "id, status, balance, reserved, credit_limit, last_price, cut_off, low, credit_seq"


class ServiceBook:
    def __init__(self) -> None:
        self.services: dict[Any, ServiceState] = {}

    async def lock(
        self, conn: psycopg.AsyncConnection, service_ids: set[Any], missing_ok: bool = False
    ) -> None:
        """Lock and load these services (those not loaded yet); unknown ones raise unless
        `missing_ok`."""
        wanted = sorted(service_ids - set(self.services))
        if not wanted:
            return
        rows = await (
            await conn.execute(
                f"SELECT {COLUMNS} FROM proc_services WHERE id = ANY(%b) ORDER BY id FOR UPDATE",
                (wanted,),
            )
        ).fetchall()
        for sid, status, balance, reserved, limit, last_price, cut_off, low, seq in rows:
            self.services[sid] = ServiceState(
                sid, status, Credit(balance, reserved, limit), last_price, cut_off, low, seq
            )
        missing = set(wanted) - set(self.services)
        if missing and not missing_ok:
            raise ServiceNotYetKnown(sorted(map(str, missing)))

    def __getitem__(self, service_id: Any) -> ServiceState:
        return self.services[service_id]

    async def save(self, conn: psycopg.AsyncConnection, out: Outbox) -> None:
        """Emit what crossed a line, then write every loaded service back."""
        for state in self.services.values():
            _emit_crossings(state, out)
        if not self.services:
            return
        rows = list(self.services.values())
        await conn.execute(
            "UPDATE proc_services p SET status = n.status, balance = n.balance,"
            " reserved = n.reserved, credit_limit = n.credit_limit, last_price = n.last_price,"
            " cut_off = n.cut_off, low = n.low, credit_seq = n.credit_seq"
            " FROM unnest(%b::uuid[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[],"
            " %b::bigint[], %b::boolean[], %b::boolean[], %b::bigint[])"
            " AS n(id, status, balance, reserved, credit_limit, last_price, cut_off, low,"
            " credit_seq) WHERE p.id = n.id",
            (
                [s.id for s in rows],
                [s.status for s in rows],
                [s.credit.balance for s in rows],
                [s.credit.reserved for s in rows],
                [s.credit.limit for s in rows],
                [s.last_price for s in rows],
                [s.cut_off for s in rows],
                [s.low for s in rows],
                [s.credit_seq for s in rows],
            ),
        )


def _emit_crossings(state: ServiceState, out: Outbox) -> None:
    cut_off = state.credit.cut_off(state.next_price)
    if cut_off != state.cut_off:
        state.cut_off = cut_off
        seq = state.next_seq()
        out.emit(
            new_event(
                "ServiceCutOff" if cut_off else "ServiceRestored",
                event_id=str(derived_id(state.id, "cut-off", seq)),
                service_id=state.id,
                balance=state.credit.balance,
                reserved=state.credit.reserved,
                credit_limit=state.credit.limit,
                credit_seq=seq,
            )
        )
    low = state.credit.low
    if low and not state.low:
        out.emit(
            new_event(
                "CreditLow",
                event_id=str(derived_id(state.id, "low", state.credit_seq)),
                service_id=state.id,
                balance=state.credit.balance,
                credit_limit=state.credit.limit,
            )
        )
    state.low = low


def credit_event(event_type: str, cause: Any, state: ServiceState, **fields: Any) -> Event:
    """A change of a service's credit, numbered, with an id fixed by its cause."""
    return new_event(
        event_type,
        event_id=str(derived_id(cause, event_type)),
        service_id=state.id,
        credit_seq=state.next_seq(),
        **fields,
    )
