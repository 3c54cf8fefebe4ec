from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from elms.gateway.breaker import Breaker, BreakerConfig, BreakerStatus, admit, failed, succeeded

NOW = datetime(2026, 11, 25, 12, 0, 0)
CONFIG = BreakerConfig(failure_threshold=3, open_seconds=30)


def test_it_opens_at_the_threshold_of_consecutive_failures_and_refuses_until_the_wait_ends():
    breaker = Breaker("loan")
    for _ in range(2):
        breaker = failed(breaker, NOW, CONFIG)
    assert breaker.status is BreakerStatus.CLOSED and breaker.failure_count == 2
    breaker = failed(breaker, NOW, CONFIG)
    assert breaker.status is BreakerStatus.OPEN
    assert breaker.next_attempt == NOW + timedelta(seconds=30)
    allowed, same = admit(breaker, NOW + timedelta(seconds=29))
    assert not allowed and same is breaker


def test_after_the_wait_one_probe_decides_closed_or_open_again():
    opened = Breaker("loan", BreakerStatus.OPEN, 3, NOW, None, NOW + timedelta(seconds=30), NOW)
    allowed, probing = admit(opened, NOW + timedelta(seconds=30))
    assert allowed and probing.status is BreakerStatus.HALF_OPEN
    closed = succeeded(probing, NOW + timedelta(seconds=31))
    assert (closed.status, closed.failure_count, closed.next_attempt) == (
        BreakerStatus.CLOSED,
        0,
        None,
    )
    reopened = failed(probing, NOW + timedelta(seconds=31), CONFIG)
    assert reopened.status is BreakerStatus.OPEN
    assert reopened.next_attempt == NOW + timedelta(seconds=61)


def test_a_success_resets_the_count_of_consecutive_failures():
    breaker = failed(failed(Breaker("loan"), NOW, CONFIG), NOW, CONFIG)
    breaker = succeeded(breaker, NOW)
    assert breaker.failure_count == 0
    assert failed(breaker, NOW, CONFIG).status is BreakerStatus.CLOSED


@given(st.lists(st.booleans(), max_size=50))
def test_an_open_breaker_never_admits_a_call_before_its_next_attempt(outcomes):
    breaker, now = Breaker("x"), NOW
    for ok in outcomes:
        now += timedelta(seconds=1)
        allowed, breaker = admit(breaker, now)
        if not allowed:
            assert breaker.status is BreakerStatus.OPEN and now < breaker.next_attempt
            continue
        breaker = succeeded(breaker, now) if ok else failed(breaker, now, CONFIG)
        assert breaker.failure_count < CONFIG.failure_threshold or breaker.status != "CLOSED"
