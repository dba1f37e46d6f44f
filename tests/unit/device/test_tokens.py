"""When a token is refreshed, and how the hub's answers are read."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.device import Token, TokenRefreshError, refresh_delay
from fleetward.device.tokens import parse_token_answer

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_refresh_margin_before_expiry() -> None:
    token = Token("t", T0 + dt.timedelta(seconds=600))
    assert refresh_delay(token, T0, T0, margin=60) == 540
    assert refresh_delay(token, T0, T0 + dt.timedelta(seconds=550), margin=60) == 0


def test_margin_is_capped_at_half_the_lifetime() -> None:
    token = Token("t", T0 + dt.timedelta(seconds=2))
    assert refresh_delay(token, T0, T0, margin=60) == 1.0


def test_an_expired_token_is_due_now() -> None:
    token = Token("t", T0)
    assert refresh_delay(token, T0 - dt.timedelta(seconds=10), T0 + dt.timedelta(hours=1), 5) == 0


def test_answers() -> None:
    ok = parse_token_answer(b'{"token": "eyJ.a.b", "expires_at": "2026-01-01T00:10:00+00:00"}')
    assert ok == Token("eyJ.a.b", T0 + dt.timedelta(minutes=10))
    with pytest.raises(TokenRefreshError) as refused:
        parse_token_answer(b'{"error": "device.not_active", "detail": "no"}')
    assert refused.value.code == "device.not_active"
    for bad in (b"nope", b"{}", b'{"token": "x", "expires_at": "soon"}', b"x" * 20_000):
        with pytest.raises(TokenRefreshError) as e:
            parse_token_answer(bad)
        assert e.value.code == "device.token_answer"
