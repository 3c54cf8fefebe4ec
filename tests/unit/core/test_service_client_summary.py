"""What a breaker's log says an upstream answered: the status, and the error it named, so an
operator can tell a collision from a busy pool from a database outage."""

from __future__ import annotations

from elms.core.service_client import RawResponse, ServiceResponse

COLLIDED = {"code": "SERVICE_UNAVAILABLE", "message": "The request collided with another; retry"}


def test_a_parsed_answer_names_its_status_code_and_message():
    answer = ServiceResponse(503, {"success": False, "error": COLLIDED})
    assert answer.summary() == (
        "HTTP 503 SERVICE_UNAVAILABLE The request collided with another; retry"
    )


def test_a_raw_answer_is_parsed_only_to_say_what_it_was():
    raw = RawResponse(
        503,
        {},
        b'{"success": false, "error": {"code": "SERVICE_UNAVAILABLE", "message": "busy"}}',
    )
    assert raw.summary() == "HTTP 503 SERVICE_UNAVAILABLE busy"


def test_an_answer_that_is_not_the_envelope_is_its_status():
    assert RawResponse(502, {}, b"<html>Bad Gateway</html>").summary() == "HTTP 502"
    assert RawResponse(500, {}, b"[1, 2]").summary() == "HTTP 500"
    assert ServiceResponse(500, "oops").summary() == "HTTP 500"
