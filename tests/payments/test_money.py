"""Properties of `payout_amount`, the one money function payouts add (DESIGN.md §4): a
payout is all the collected splits due or nothing; never below the payee's minimum; never
more than the payee's payable balance covers; never negative."""

from hypothesis import given
from hypothesis import strategies as st

from payments.services.payouts import payout_amount

amounts = st.lists(st.integers(min_value=0, max_value=10**12), max_size=20)


@given(
    due=amounts,
    minimum=st.integers(min_value=0, max_value=10**12),
    balance=st.integers(min_value=-(10**13), max_value=10**13),
)
def test_all_or_nothing_within_minimum_and_balance(due, minimum, balance):
    paid = payout_amount(due=due, minimum=minimum, payable_balance=balance)
    assert paid in (0, sum(due))
    assert paid >= 0
    if paid:
        assert paid >= minimum
        assert paid <= balance
    else:
        assert sum(due) == 0 or sum(due) < minimum or sum(due) > balance


@given(due=amounts.filter(lambda d: sum(d) > 0))
def test_a_covered_sum_at_or_above_the_minimum_is_paid_in_full(due):
    assert payout_amount(due=due, minimum=sum(due), payable_balance=sum(due)) == sum(due)


@given(due=amounts, negative=st.integers(min_value=-(10**12), max_value=-1))
def test_nothing_is_paid_against_a_negative_balance_or_a_negative_split(due, negative):
    assert payout_amount(due=due, minimum=0, payable_balance=negative) == 0
    assert payout_amount(due=[*due, negative], minimum=0, payable_balance=10**15) == 0


def test_examples():
    assert payout_amount(due=[180_000], minimum=0, payable_balance=180_000) == 180_000
    assert payout_amount(due=[120_000], minimum=150_000, payable_balance=120_000) == 0
    assert payout_amount(due=[100, 50], minimum=150, payable_balance=149) == 0
    assert payout_amount(due=[], minimum=0, payable_balance=0) == 0
