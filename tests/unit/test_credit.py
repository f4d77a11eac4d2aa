from __future__ import annotations

from core.credit import Credit


def test_reservations_count_against_the_limit() -> None:
    credit = Credit(balance=0, reserved=0, limit=3000)
    assert [credit.reserve(1000) for _ in range(4)] == [True, True, True, False]
    assert credit.room == 0 and credit.reserved == 3000
    assert credit.cut_off(1000) and not credit.cut_off(0)


def test_debit_and_release() -> None:
    credit = Credit(balance=0, reserved=0, limit=3000)
    credit.reserve(1000)
    credit.reserve(1000)
    credit.debit(1000)  # delivered
    credit.release(1000)  # failed: free
    assert (credit.balance, credit.reserved, credit.room) == (-1000, 0, 2000)


def test_the_balance_never_goes_below_minus_the_limit() -> None:
    credit = Credit(balance=0, reserved=0, limit=2500)
    while credit.reserve(1000):
        credit.debit(1000)
    assert credit.balance == -2000 and credit.balance >= -credit.limit
    assert credit.cut_off(1000) and not credit.cut_off(500)


def test_a_top_up_restores() -> None:
    credit = Credit(balance=-3000, reserved=0, limit=3000)
    assert credit.cut_off(1000)
    credit.top_up(1000)
    assert not credit.cut_off(1000)


def test_low_once_80_percent_of_the_limit_is_used() -> None:
    assert not Credit(balance=-7999, reserved=0, limit=10_000).low
    assert Credit(balance=-8000, reserved=0, limit=10_000).low
    assert Credit(balance=0, reserved=0, limit=0).low  # nothing at all left
    assert not Credit(balance=500, reserved=0, limit=0).low


def test_a_service_reserves_within_its_own_limit_and_its_accounts() -> None:
    account = Credit(balance=0, reserved=0, limit=2500)
    a = Credit(balance=0, reserved=0, limit=10_000, account=account)
    b = Credit(balance=0, reserved=0, limit=10_000, account=account)
    assert [a.reserve(1000), b.reserve(1000), a.reserve(1000), b.reserve(1000)] == [
        True,
        True,
        False,  # the account's room is 500
        False,
    ]
    assert (account.reserved, a.reserved, b.reserved) == (2000, 1000, 1000)
    assert a.room == 9000 and account.room == 500
    assert account.cut_off(1000) and not a.cut_off(1000)  # the account is, its services not


def test_every_change_of_a_service_moves_its_account() -> None:
    account = Credit(balance=500, reserved=0, limit=2000)
    a = Credit(balance=500, reserved=0, limit=1000, account=account)
    b = Credit(balance=0, reserved=0, limit=1000, account=account)
    assert a.reserve(1000) and b.reserve(1000)
    a.debit(1000)
    b.release(1000)
    assert (account.balance, account.reserved) == (-500, 0)
    b.top_up(3000)
    assert (account.balance, b.balance, a.balance) == (2500, 3000, -500)


def test_the_service_limit_still_holds_inside_a_roomy_account() -> None:
    account = Credit(balance=0, reserved=0, limit=1_000_000)
    a = Credit(balance=0, reserved=0, limit=1500, account=account)
    assert a.reserve(1000) and not a.reserve(1000)
    assert account.reserved == 1000


def test_a_call_may_take_exactly_the_room_that_is_left() -> None:
    account = Credit(balance=0, reserved=0, limit=2000)
    service = Credit(balance=0, reserved=0, limit=10_000, account=account)
    assert service.reserve(2000) and account.room == 0
    assert not service.reserve(1)
    alone = Credit(balance=0, reserved=0, limit=1000)
    assert alone.reserve(1000) and not alone.reserve(1)
