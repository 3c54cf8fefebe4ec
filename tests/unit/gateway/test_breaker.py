"""The circuit breaker's state machine (gateway/breaker.py), time passed in: Resilience4j's
states, a wait set only by the moves into OPEN, and a HALF_OPEN state that admits a few probes."""

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from elms.gateway.breaker import (
    Breaker,
    BreakerConfig,
    BreakerStatus,
    admit,
    failed,
    released,
    retry_after,
    succeeded,
)
from elms.gateway.breakers import own_failure

NOW = datetime(2026, 11, 25, 12, 0, 0)
CONFIG = BreakerConfig(failure_threshold=3, open_seconds=30, half_open_probes=3)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def opened_at(seconds: float = 0) -> Breaker:
    breaker = Breaker("loan")
    for _ in range(CONFIG.failure_threshold):
        breaker = failed(breaker, at(seconds), CONFIG, admitted=at(seconds))
    assert breaker.status is BreakerStatus.OPEN
    return breaker


def half_open_at(seconds: float) -> Breaker:
    allowed, probing = admit(opened_at(), at(seconds), CONFIG)
    assert allowed and probing.status is BreakerStatus.HALF_OPEN and probing.probes == 1
    return probing


def test_it_opens_at_the_threshold_of_consecutive_failures_and_refuses_until_the_wait_ends():
    breaker = Breaker("loan")
    for _ in range(2):
        breaker = failed(breaker, NOW, CONFIG, admitted=NOW)
    assert breaker.status is BreakerStatus.CLOSED and breaker.failure_count == 2
    breaker = failed(breaker, NOW, CONFIG, admitted=NOW)
    assert breaker.status is BreakerStatus.OPEN
    assert breaker.next_attempt == at(30)
    allowed, same = admit(breaker, at(29), CONFIG)
    assert not allowed and same is breaker
    assert retry_after(breaker) == at(30)


def test_a_success_resets_the_count_of_consecutive_failures():
    breaker = failed(failed(Breaker("loan"), NOW, CONFIG, NOW), NOW, CONFIG, NOW)
    breaker = succeeded(breaker, NOW, CONFIG, NOW)
    assert breaker.failure_count == 0
    assert failed(breaker, NOW, CONFIG, NOW).status is BreakerStatus.CLOSED


def test_failures_of_calls_in_flight_when_it_opened_do_not_lengthen_the_wait():
    # The fault injection's case: a hang; ten calls admitted before the breaker opened time out
    # one after another for twenty seconds. The wait still ends 30 s after it opened.
    breaker = opened_at(1)
    for second in range(2, 22, 2):
        breaker = failed(breaker, at(second), CONFIG, admitted=NOW)
    assert breaker.status is BreakerStatus.OPEN
    assert (breaker.next_attempt, breaker.changed_at) == (at(31), at(1))
    assert breaker.last_failure == at(20)
    assert admit(breaker, at(31), CONFIG)[0]


@given(
    st.lists(
        st.tuples(st.floats(0, 29.9), st.floats(-60, 29.9), st.booleans()),
        max_size=40,
    )
)
def test_no_outcome_reported_while_open_moves_the_wait(reports):
    """Whatever calls answer while the breaker is OPEN (whenever they were admitted, failing or
    succeeding), its wait ends when it ended when it opened."""
    breaker = opened_at()
    for when, admitted, ok in sorted(reports):
        now, admitted_at = at(when), at(min(admitted, when))
        if ok:
            breaker = succeeded(breaker, now, CONFIG, admitted_at)
        else:
            breaker = failed(breaker, now, CONFIG, admitted_at)
        assert breaker.status is BreakerStatus.OPEN
        assert (breaker.next_attempt, breaker.changed_at) == (at(30), NOW)


def test_half_open_admits_a_few_probes_and_closes_when_they_all_succeed():
    breaker = half_open_at(30)
    assert retry_after(breaker) is None  # no wait left: the probes decide
    for second in (31, 32):
        allowed, breaker = admit(breaker, at(second), CONFIG)
        assert allowed
    assert breaker.probes == 3
    allowed, same = admit(breaker, at(33), CONFIG)
    assert not allowed and same is breaker  # every probe is out
    for second in (34, 35):
        breaker = succeeded(breaker, at(second), CONFIG, admitted=at(31))
        assert breaker.status is BreakerStatus.HALF_OPEN
    breaker = succeeded(breaker, at(36), CONFIG, admitted=at(32))
    assert breaker.status is BreakerStatus.CLOSED
    assert (breaker.failure_count, breaker.next_attempt, breaker.probes) == (0, None, 0)
    assert breaker.changed_at == at(36)


def test_any_probe_failing_opens_it_again_with_a_fresh_wait():
    breaker = half_open_at(30)
    _, breaker = admit(breaker, at(31), CONFIG)
    breaker = succeeded(breaker, at(32), CONFIG, admitted=at(30))
    reopened = failed(breaker, at(40), CONFIG, admitted=at(31))
    assert reopened.status is BreakerStatus.OPEN
    assert (reopened.next_attempt, reopened.changed_at) == (at(70), at(40))
    assert (reopened.probes, reopened.probes_passed) == (0, 0)
    # Another probe of that round failing later does not lengthen the new wait.
    assert failed(reopened, at(45), CONFIG, admitted=at(30)).next_attempt == at(70)


def test_calls_admitted_before_the_probes_began_do_not_decide_for_them():
    breaker = half_open_at(30)
    # A call admitted before the breaker opened answers now, late: it is no probe.
    after_failure = failed(breaker, at(31), CONFIG, admitted=at(-5))
    assert after_failure.status is BreakerStatus.HALF_OPEN
    assert after_failure.state() == breaker.state()
    after_success = succeeded(breaker, at(31), CONFIG, admitted=at(-5))
    assert after_success.probes_passed == 0


def test_a_round_of_probes_that_never_answer_is_started_again_after_the_wait():
    breaker = half_open_at(30)
    for second in (31, 32):
        _, breaker = admit(breaker, at(second), CONFIG)
    assert not admit(breaker, at(59), CONFIG)[0]
    allowed, fresh = admit(breaker, at(60), CONFIG)
    assert allowed and fresh.status is BreakerStatus.HALF_OPEN
    assert (fresh.probes, fresh.probes_passed, fresh.changed_at) == (1, 0, at(60))
    # A probe of the abandoned round answering now decides nothing.
    assert failed(fresh, at(61), CONFIG, admitted=at(31)).status is BreakerStatus.HALF_OPEN


def test_a_probe_whose_answer_says_nothing_of_the_upstream_gives_its_place_back():
    breaker = half_open_at(30)
    for second in (31, 32):
        _, breaker = admit(breaker, at(second), CONFIG)
    breaker = released(breaker, admitted=at(31))
    assert breaker.probes == 2
    assert admit(breaker, at(33), CONFIG)[0]
    # Outside a HALF_OPEN round it changes nothing.
    assert released(opened_at(), admitted=NOW) == opened_at()
    assert released(Breaker("x"), admitted=NOW) == Breaker("x")


def test_only_an_upstreams_own_5xx_counts_against_it_and_a_relayed_one_counts_neither_way():
    assert own_failure(503, relayed=False) is True
    assert own_failure(500, relayed=False) is True
    assert own_failure(503, relayed=True) is None
    assert own_failure(504, relayed=True) is None
    assert own_failure(200, relayed=False) is False
    assert own_failure(404, relayed=True) is False


def test_the_configuration_refuses_values_that_would_never_decide():
    for bad in ({"half_open_probes": 0}, {"failure_threshold": 0}, {"open_seconds": -1}):
        try:
            BreakerConfig(**bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


# --- a model: calls admitted and answering in any order -------------------------------------

EVENT = st.tuples(
    st.sampled_from(["call", "ok", "fail", "relayed"]),
    st.integers(0, 20),  # seconds later
    st.integers(0, 8),  # which call in flight answers
)


@given(st.lists(EVENT, max_size=80))
def test_whatever_calls_answer_and_when_the_breaker_keeps_its_promises(events):
    """Calls are admitted and answer in any order, late ones included. The wait is set only
    by a move into OPEN; an OPEN breaker admits nothing before it ends; HALF_OPEN never has
    more than `half_open_probes` probes out, and closes only after that many passed."""
    breaker, now = Breaker("x"), NOW
    in_flight: list[datetime] = []
    for kind, later, which in events:
        now += timedelta(seconds=later)
        before = breaker
        if kind == "call":
            allowed, breaker = admit(breaker, now, CONFIG)
            if allowed:
                in_flight.append(now)
            else:
                assert breaker is before
                if before.status is BreakerStatus.OPEN:
                    assert now < before.next_attempt
        elif in_flight:
            admitted = in_flight.pop(which % len(in_flight))
            if kind == "ok":
                breaker = succeeded(breaker, now, CONFIG, admitted)
            elif kind == "fail":
                breaker = failed(breaker, now, CONFIG, admitted)
            else:
                breaker = released(breaker, admitted)
        if breaker.next_attempt != before.next_attempt and breaker.next_attempt is not None:
            assert breaker.status is BreakerStatus.OPEN
            assert before.status is not BreakerStatus.OPEN
            assert breaker.next_attempt == now + CONFIG.wait
        if breaker.status is BreakerStatus.HALF_OPEN:
            assert 0 <= breaker.probes_passed <= breaker.probes <= CONFIG.half_open_probes
        if breaker.status is BreakerStatus.CLOSED and before.status is BreakerStatus.HALF_OPEN:
            assert before.probes_passed == CONFIG.half_open_probes - 1
        if breaker.status is BreakerStatus.CLOSED:
            assert breaker.failure_count < CONFIG.failure_threshold
