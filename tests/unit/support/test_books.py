"""The `books_apart` mark, read by the check every integration test ends with
(tests/support/books.py): it names the invariants a test may leave violated, and why."""

from __future__ import annotations

import pytest

from elms.reconcile import INVARIANTS
from tests.support.books import allowed_apart


class Node:
    """What `allowed_apart` reads of a test item: its marks."""

    def __init__(self, *marks: pytest.MarkDecorator) -> None:
        self.marks = [decorator.mark for decorator in marks]

    def iter_markers(self, name: str):
        return (mark for mark in self.marks if mark.name == name)


def test_an_unmarked_test_may_leave_nothing_apart():
    assert allowed_apart(Node(pytest.mark.filterwarnings("ignore"))) == frozenset()


def test_a_mark_allows_exactly_the_invariants_it_names():
    marked = Node(
        pytest.mark.books_apart("customer.used_credit", reason="customer-service test"),
        pytest.mark.books_apart("outbox.delivered", reason="an event fails for good"),
    )
    assert allowed_apart(marked) == {"customer.used_credit", "outbox.delivered"}


def test_a_mark_naming_no_invariant_allows_every_one():
    assert allowed_apart(Node(pytest.mark.books_apart(reason="planted"))) == {
        invariant.name for invariant in INVARIANTS
    }


def test_a_mark_without_a_reason_fails_the_test():
    with pytest.raises(pytest.fail.Exception, match="reason"):
        allowed_apart(Node(pytest.mark.books_apart("customer.used_credit")))


def test_a_mark_naming_an_unknown_invariant_fails_the_test():
    with pytest.raises(pytest.fail.Exception, match="usedcredit"):
        allowed_apart(Node(pytest.mark.books_apart("customer.usedcredit", reason="typo")))
