"""Postpaid credit rules, pure: what a service may still spend, when it is cut off, when low."""

from __future__ import annotations

from dataclasses import dataclass

LOW_SHARE = 5  # low once what is left of the limit is at most a fifth of it (80 % used)


@dataclass
class Credit:
    """A service's credit: `balance` (negative when it owes), the price of calls admitted but
    not finished (`reserved`), and how much it may owe at most (`limit`)."""

    balance: int
    reserved: int
    limit: int

    @property
    def room(self) -> int:
        """What may still be reserved without the balance ever going below -limit."""
        return self.balance - self.reserved + self.limit

    def reserve(self, price: int) -> bool:
        """Reserve `price` for an admitted call, unless that could break the limit."""
        if price > self.room:
            return False
        self.reserved += price
        return True

    def debit(self, price: int) -> None:
        """The call was delivered: its reservation becomes a charge."""
        self.reserved -= price
        self.balance -= price

    def release(self, price: int) -> None:
        """The call ended without delivery: it costs nothing."""
        self.reserved -= price

    def top_up(self, amount: int) -> None:
        self.balance += amount

    def cut_off(self, next_price: int) -> bool:
        """Whether a next call at `next_price` would be refused."""
        return next_price > self.room

    @property
    def low(self) -> bool:
        """80 % of the limit is used (for a zero limit: nothing is left)."""
        return (self.balance + self.limit) * LOW_SHARE <= self.limit
