"""The history AAD never collides: distinct rows always bind distinct associated data."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from fleetward.history import aad_prefix, record_aad, row_aad

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

_text = st.text(min_size=1, max_size=20)


@given(
    a=st.tuples(_text, _text, _text, st.integers(0, 10**9), st.booleans()),
    b=st.tuples(_text, _text, _text, st.integers(0, 10**9), st.booleans()),
)
def test_aad_is_injective(
    a: tuple[str, str, str, int, bool], b: tuple[str, str, str, int, bool]
) -> None:
    """Different rows never share associated data (length-prefixed fields)."""

    def aad(x: tuple[str, str, str, int, bool]) -> bytes:
        return record_aad(x[0], x[1], x[2], T0 + dt.timedelta(microseconds=x[3]), x[4])

    assert (aad(a) == aad(b)) == (a == b)


@given(st.tuples(_text, _text, _text, st.integers(0, 10**9), st.booleans()))
def test_fast_path_equals_record_aad(x: tuple[str, str, str, int, bool]) -> None:
    at = T0 + dt.timedelta(microseconds=x[3])
    assert row_aad(aad_prefix(x[0], x[1], x[2]), at, x[4]) == record_aad(*x[:3], at, x[4])
