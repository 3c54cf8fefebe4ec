"""A path is canonical when no reader can take it for another path (elms.core.canonical)."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

from elms.core.canonical import path_problem, query_problem

REFUSED = [
    b"/api/v1/customers/OWN/../OTHER",
    b"/api/v1/customers/OWN/%2e%2e/OTHER",
    b"/api/v1/customers/OWN/%2E%2e/OTHER",
    b"/api/v1/customers/OWN/.%2e/OTHER",
    b"/api/v1/customers/./OWN",
    b"/api/v1/customers/OWN%2fOTHER",
    b"/api/v1/customers/OWN%2FOTHER",
    b"/api/v1/customers/OWN%5cOTHER",
    b"/api/v1/customers/OWN\\..\\OTHER",
    b"/api/v1//customers",
    b"//api/v1/customers",
    b"/api/v1/customers/OWN;x=1",
    b"/api/v1/customers/OWN%3bx",
    b"/api/v1/x%00y",
    b"/api/v1/x%0ay",
    b"/api/v1/x%7fy",
    b"/api/v1/x\x00y",
    b"/api/v1/x y",
    b"/api/v1/x%zzy",
    b"/api/v1/x%2",
    b"/api/v1/x%252e",
    b"/api/v1/x%ff",
    b"/api/v1/\xc3\xa9",
    b"api/v1/customers",
    b"",
]


@pytest.mark.parametrize("raw", REFUSED)
def test_a_path_another_reader_could_read_otherwise_is_refused(raw):
    assert path_problem(raw) is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"/api/v1/customers/CUST-1a2b",
        b"/api/v1/loans/LOAN-1/documents/3/content",
        b"/api/v1/customers/%C3%A9t%C3%A9",  # UTF-8, encoded
        b"/api/v1/customers/a.b",  # a dot inside a segment is no dot segment
        b"/actuator/health",
    ],
)
def test_an_ordinary_path_is_canonical(raw):
    assert path_problem(raw) is None


@pytest.mark.parametrize("raw", [b"q=%00", b"q=a\x00", b"q=%0d%0a", b"q=a b", b"q=%zz"])
def test_a_query_with_control_characters_or_bad_encoding_is_refused(raw):
    assert query_problem(raw) is not None


def test_an_ordinary_query_passes():
    assert query_problem(b"status=ACTIVE&q=ada%20lovelace&loanId=a%26b") is None


_PATH_BYTES = st.lists(
    st.sampled_from(["/", ".", "..", "%2e", "%2F", "%5c", "\\", ";", "%00", "a", "B", "-", "%41"]),
    max_size=12,
).map(lambda parts: ("/" + "".join(parts)).encode())


@given(_PATH_BYTES)
def test_every_reader_sees_the_same_segments_in_a_canonical_path(raw):
    if path_problem(raw) is not None:
        return
    text = raw.decode()
    decoded = unquote(text)
    # Splitting before or after decoding gives the same segments, and resolving dot segments
    # (as an HTTP client does) changes nothing.
    assert [unquote(s) for s in text.split("/")] == decoded.split("/")
    assert posixpath.normpath(decoded) == decoded.rstrip("/") or decoded == "/"
    assert yarl.URL("http://h" + text).path == decoded
