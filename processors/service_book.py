"""The decisions processor's view of its services and their accounts within one transaction:
rows locked in id order (accounts first), credit changed in memory, then written back with the
events the changes call for (cut off, restored, credit low; of a service or of an account)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from core.credit import Credit
from core.ids import derived_id
from processors.range_health import Dial
from runtime.batches import RetryLater
from runtime.outbox import Outbox
from schemas.codec import Event, new_event


class ServiceNotYetKnown(RetryLater):
    """A request for a service whose creation this processor has not applied yet (the two
    arrive on different topics); the batch is tried again shortly."""


@dataclass
class Holder:
    """What the book keeps of one holder of credit (a service, or an account over all of its
    services): its credit and the lines it has crossed."""

    id: Any
    credit: Credit
    last_price: int | None
    cut_off: bool
    low: bool
    credit_seq: int

    def next_seq(self) -> int:
        """Number the next change of this holder's credit (readers keep the highest)."""
        self.credit_seq += 1
        return self.credit_seq

    @property
    def next_price(self) -> int:
        # Before its first call a holder is judged at the smallest price: is anything left?
        return self.last_price if self.last_price is not None else 1


@dataclass
class ServiceState(Holder):
    status: str
    account: AccountState


@dataclass
class AccountState(Holder):
    total_limit: int | None  # as the operator set it (None: the platform's default)


SERVICE_COLUMNS = (
    "id, status, balance, reserved, credit_limit, last_price, cut_off, low, credit_seq, account_id"
)
ACCOUNT_COLUMNS = "id, total_limit, balance, reserved, last_price, cut_off, low, credit_seq"


class ServiceBook:
    """The services and accounts one batch changes. An account's row is locked before any of
    its services' rows, every lock in id order, so that one writer at a time changes an account
    (its admissions across all of its services, whichever partitions they come from)."""

    def __init__(self, default_total_limit: int) -> None:
        self.default_total_limit = default_total_limit
        self.services: dict[Any, ServiceState] = {}
        self.accounts: dict[Any, AccountState] = {}
        # The batch's flash-call outcomes, for the caller ranges' health: counted together at
        # the end of the batch (processors/range_health.py).
        self.range_dials: list[Dial] = []

    async def lock(
        self,
        conn: psycopg.AsyncConnection,
        service_ids: set[Any],
        missing_ok: bool = False,
        account_ids: frozenset[Any] = frozenset(),
    ) -> None:
        """Lock and load these services (those not loaded yet) and their accounts, with
        `account_ids` besides; unknown services raise unless `missing_ok`. Both locks go out
        together and are answered in one round trip (the accounts' statement first)."""
        wanted = sorted(service_ids - set(self.services))
        accounts = await self._ask_accounts(conn, set(account_ids), wanted)
        services = (
            await conn.execute(
                f"SELECT {SERVICE_COLUMNS} FROM proc_services WHERE id = ANY(%b)"
                " ORDER BY id FOR UPDATE",
                (wanted,),
            )
            if wanted
            else None
        )
        if accounts is not None:
            self._load_accounts(await accounts.fetchall())
        if services is None:
            return
        for (
            sid,
            status,
            balance,
            reserved,
            limit,
            price,
            cut_off,
            low,
            seq,
            owner,
        ) in await services.fetchall():
            # A service created after its account's lock was taken belongs to an account locked
            # by its creation (processors/decisions/).
            account = self.accounts.get(owner) or await self._lock_late(conn, owner)
            self.services[sid] = ServiceState(
                sid,
                Credit(balance, reserved, limit, account.credit),
                price,
                cut_off,
                low,
                seq,
                status,
                account,
            )
        missing = set(wanted) - set(self.services)
        if missing and not missing_ok:
            raise ServiceNotYetKnown(sorted(map(str, missing)))

    async def lock_accounts(self, conn: psycopg.AsyncConnection, account_ids: set[Any]) -> None:
        """Lock and load these accounts, in id order; one not known yet is added (its services
        or its creation may be applied first: they come from different topics)."""
        accounts = await self._ask_accounts(conn, account_ids, [])
        if accounts is not None:
            self._load_accounts(await accounts.fetchall())

    async def _ask_accounts(
        self, conn: psycopg.AsyncConnection, account_ids: set[Any], service_ids: list[Any]
    ) -> psycopg.AsyncCursor[Any] | None:
        """Send the lock of these accounts and of the services' owners (those not loaded
        yet), the named accounts created first if missing; its rows are read later (None:
        nothing to lock)."""
        named = sorted(account_ids - set(self.accounts))
        if not named and not service_ids:
            return None
        if named:
            # Before any row is locked, in id order: an insert waits for another worker's
            # uncommitted insert of the same account, never while holding a lock.
            await conn.execute(
                "INSERT INTO proc_accounts (id) SELECT unnest(%b::uuid[]) ORDER BY 1"
                " ON CONFLICT (id) DO NOTHING",
                (named,),
            )
        return await conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM proc_accounts WHERE id = ANY(%b::uuid[]"
            " || ARRAY(SELECT account_id FROM proc_services WHERE id = ANY(%b::uuid[])))"
            " ORDER BY id FOR UPDATE",
            (named, service_ids),
        )

    def _load_accounts(self, rows: list[Any]) -> None:
        for aid, total_limit, balance, reserved, price, cut_off, low, seq in rows:
            if aid in self.accounts:  # locked earlier in the batch, maybe changed since
                continue
            limit = self.default_total_limit if total_limit is None else total_limit
            self.accounts[aid] = AccountState(
                aid, Credit(balance, reserved, limit), price, cut_off, low, seq, total_limit
            )

    async def _lock_late(self, conn: psycopg.AsyncConnection, account_id: Any) -> AccountState:
        await self.lock_accounts(conn, {account_id})
        return self.accounts[account_id]

    def set_total_limit(self, account_id: Any, total_limit: int | None) -> None:
        """The operator's account-wide limit (None: the platform's default)."""
        account = self.accounts[account_id]
        account.total_limit = total_limit
        account.credit.limit = self.default_total_limit if total_limit is None else total_limit

    def __getitem__(self, service_id: Any) -> ServiceState:
        return self.services[service_id]

    async def save(self, conn: psycopg.AsyncConnection, out: Outbox) -> None:
        """Emit what crossed a line, then write every loaded service and account back."""
        for state in self.services.values():
            _emit_crossings(state, out, SERVICE_LINES)
        for account in self.accounts.values():
            _emit_crossings(account, out, ACCOUNT_LINES)
        if self.services:
            await _save_services(conn, list(self.services.values()))
        if self.accounts:
            await _save_accounts(conn, list(self.accounts.values()))


async def _save_services(conn: psycopg.AsyncConnection, rows: list[ServiceState]) -> None:
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


async def _save_accounts(conn: psycopg.AsyncConnection, rows: list[AccountState]) -> None:
    await conn.execute(
        "UPDATE proc_accounts p SET total_limit = n.total_limit, balance = n.balance,"
        " reserved = n.reserved, last_price = n.last_price, cut_off = n.cut_off, low = n.low,"
        " credit_seq = n.credit_seq"
        " FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],"
        " %b::boolean[], %b::boolean[], %b::bigint[])"
        " AS n(id, total_limit, balance, reserved, last_price, cut_off, low, credit_seq)"
        " WHERE p.id = n.id",
        (
            [a.id for a in rows],
            [a.total_limit for a in rows],
            [a.credit.balance for a in rows],
            [a.credit.reserved for a in rows],
            [a.last_price for a in rows],
            [a.cut_off for a in rows],
            [a.low for a in rows],
            [a.credit_seq for a in rows],
        ),
    )


@dataclass(frozen=True)
class Lines:
    """The events a holder's crossings are told by, and how they name it."""

    cut_off: str
    restored: str
    low: str
    id_field: str
    limit_field: str


SERVICE_LINES = Lines("ServiceCutOff", "ServiceRestored", "CreditLow", "service_id", "credit_limit")
ACCOUNT_LINES = Lines(
    "AccountCutOff", "AccountRestored", "AccountCreditLow", "account_id", "total_credit_limit"
)


def _emit_crossings(holder: Holder, out: Outbox, lines: Lines) -> None:
    named = {lines.id_field: holder.id, lines.limit_field: holder.credit.limit}
    cut_off = holder.credit.cut_off(holder.next_price)
    if cut_off != holder.cut_off:
        holder.cut_off = cut_off
        seq = holder.next_seq()
        out.emit(
            new_event(
                lines.cut_off if cut_off else lines.restored,
                event_id=str(derived_id(holder.id, "cut-off", seq)),
                balance=holder.credit.balance,
                reserved=holder.credit.reserved,
                credit_seq=seq,
                **named,
            )
        )
    low = holder.credit.low
    if low and not holder.low:
        out.emit(
            new_event(
                lines.low,
                # Numbered like a change: a holder may go low, be topped up and go low again.
                event_id=str(derived_id(holder.id, "low", holder.next_seq())),
                balance=holder.credit.balance,
                **named,
            )
        )
    holder.low = low


def credit_event(event_type: str, cause: Any, state: ServiceState, **fields: Any) -> Event:
    """A change of a service's credit, numbered, with an id fixed by its cause."""
    return new_event(
        event_type,
        event_id=str(derived_id(cause, event_type)),
        service_id=state.id,
        credit_seq=state.next_seq(),
        **fields,
    )
