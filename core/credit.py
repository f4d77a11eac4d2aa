"""Postpaid credit rules, pure: what a service, and its account as a whole, may still spend,
when either is cut off, when low."""

from __future__ import annotations

from dataclasses import dataclass

LOW_SHARE = 5  # low once what is left of the limit is at most a fifth of it (80 % used)


@dataclass
class Credit:
    """A service's credit: `balance` (negative when it owes), the price of calls admitted but
    not finished (`reserved`), and how much it may owe at most (`limit`).

    An account's credit is the same thing over the sum of its services' balances and
    reservations, with the account's `total_credit_limit`. A service's credit names its
    account's (`account`): every change moves both, and a reservation must fit in both."""

    balance: int
    reserved: int
    limit: int
    account: Credit | None = None

    @property
    def room(self) -> int:
        """What may still be reserved without the balance ever going below -limit."""
        return self.balance - self.reserved + self.limit

    def reserve(self, price: int) -> bool:
        """Reserve `price` for an admitted call, unless that could break the limit (its own, or
        its account's)."""
        if price > self.room or (self.account is not None and price > self.account.room):
            return False
        self._move(reserved=price)
        return True

    def debit(self, price: int) -> None:
        """The call was delivered: its reservation becomes a charge."""
        self._move(reserved=-price, balance=-price)

    def release(self, price: int) -> None:
        """The call ended without delivery: it costs nothing."""
        self._move(reserved=-price)

    def top_up(self, amount: int) -> None:
        self._move(balance=amount)

    def _move(self, balance: int = 0, reserved: int = 0) -> None:
        self.balance += balance
        self.reserved += reserved
        if self.account is not None:
            self.account._move(balance, reserved)

    def cut_off(self, next_price: int) -> bool:
        """Whether a next call at `next_price` would be refused."""
        return next_price > self.room

    @property
    def low(self) -> bool:
        """80 % of the limit is used (for a zero limit: nothing is left)."""
        return (self.balance + self.limit) * LOW_SHARE <= self.limit
