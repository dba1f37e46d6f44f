"""Logging: secrets never reach the log stream, and JSON mode writes one object a line.

The tests log through :func:`configure_logging` exactly as the hub does, into captured
stderr, so the filter, the formatters and the handler wiring are all real.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from fleetward.access.apikeys import TOKEN_PREFIX
from fleetward.crypto import new_secret, new_token_id
from fleetward.logs import configure_logging, redact

ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"

# Hand-made keys at the edges of the format (secrets are 43 URL-safe characters), plus
# keys minted by the same generators the API key service uses.
EDGE_KEYS = [
    f"fwk_{'a' * 12}_{'-' * 43}",
    f"fwk_{'9' * 12}_{'_' * 43}",
    f"fwk_{ID_ALPHABET[:12]}_{'A' * 20}-_{'z' * 21}",
    f"fwk_{ID_ALPHABET[-12:]}_{'0123456789' * 4}abc",
]
MINTED_KEYS = [f"{TOKEN_PREFIX}{new_token_id()}_{new_secret()}" for _ in range(200)]

ReadLog = Callable[[], str]


def _raise(error: Exception) -> None:
    raise error


def _secret_of(token: str) -> str:
    return token.split("_", 2)[2]


@pytest.fixture
def read_log(capsys: pytest.CaptureFixture[str]) -> Iterator[ReadLog]:
    """Captured stderr; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield lambda: capsys.readouterr().err
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


# -- redact() ------------------------------------------------------------------------------


def _assert_masked(token: str) -> None:
    assert len(_secret_of(token)) == 43
    text = f"auth failed for {token}, retrying with '{token}'\n(token={token})"
    cleaned = redact(text)
    assert token not in cleaned
    assert _secret_of(token) not in cleaned
    assert cleaned == "auth failed for fwk_***, retrying with 'fwk_***'\n(token=fwk_***)"


@pytest.mark.parametrize("token", EDGE_KEYS, ids=["dashes", "underscores", "mixed", "digits"])
def test_api_keys_at_the_edges_of_the_format_are_masked(token: str) -> None:
    _assert_masked(token)


def test_minted_api_keys_are_masked_wherever_they_appear() -> None:
    for token in MINTED_KEYS:
        _assert_masked(token)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.DEF-123_~+/=", "Authorization: Bearer ***"),
        ("authorization: bearer eyJhbGciOi.eyJzdWIi.sig", "authorization: bearer ***"),
        ("headers={'Authorization': 'BEARER  tok'}", "headers={'Authorization': 'BEARER  ***'}"),
    ],
)
def test_bearer_credentials_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_bearer_api_key_leaves_nothing_of_the_key() -> None:
    token = MINTED_KEYS[0]
    cleaned = redact(f"Authorization: Bearer {token}")
    assert token.split("_")[1] not in cleaned  # not even the public id
    assert _secret_of(token) not in cleaned
    assert cleaned.startswith("Authorization: Bearer ***")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "connect postgresql+psycopg://fleet:s3cr%40t@db:5432/fleet failed",
            "connect postgresql+psycopg://fleet:***@db:5432/fleet failed",
        ),
        ("amqp://user:pa/ss:w0rd@broker/vhost", "amqp://user:***@broker/vhost"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("a=https://u:p@h b=mqtts://v:q@i", "a=https://u:***@h b=mqtts://v:***@i"),
    ],
)
def test_passwords_in_urls_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "device 01a210cd-b02f-7f72-96bb-c568753c3267 connected from 10.0.0.7:51234",
        "GET https://hub.example:8443/v1/me 200",
        "postgresql://fleet@db:5432/fleet",
        "fwk_ is our key prefix; keys look like fwk_<id>_<secret>",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


# -- the filter through configure_logging ------------------------------------------------


def test_text_format_masks_message_args_and_exception(read_log: ReadLog) -> None:
    configure_logging("info", "text")
    log = logging.getLogger("fleetward.test")
    token = MINTED_KEYS[1]
    log.warning("presented %s", token)
    log.warning("header %r", {"authorization": "Bearer opaque-token-value"})
    log.info(f"inline {token}")
    try:
        _raise(ValueError(f"cannot verify {token} via redis://:pw-in-url@cache/0"))
    except ValueError:
        log.exception("verification failed")
    out = read_log()
    assert token not in out
    assert _secret_of(token) not in out
    assert "opaque-token-value" not in out
    assert "pw-in-url" not in out
    assert "presented fwk_***" in out
    assert "'Bearer ***'" in out
    assert "inline fwk_***" in out
    assert "ValueError: cannot verify fwk_*** via redis://:***@cache/0" in out
    assert "Traceback (most recent call last)" in out  # the traceback is kept, masked


def test_json_format_writes_one_valid_object_per_line(read_log: ReadLog) -> None:
    configure_logging("debug", "json")
    before = dt.datetime.now(dt.UTC)
    token = MINTED_KEYS[2]
    logging.getLogger("fleetward.hub").debug("starting %s", "api")
    logging.getLogger("fleetward.api").warning(
        "rejected %s", token, extra={"code": "access.unauthenticated", "peer": "10.0.0.9"}
    )
    try:
        _raise(RuntimeError(f"boom with Bearer {token}"))
    except RuntimeError:
        logging.getLogger("fleetward.broker").exception("crashed")
    lines = read_log().splitlines()
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]

    assert [(e["level"], e["logger"], e["msg"]) for e in entries] == [
        ("debug", "fleetward.hub", "starting api"),
        ("warning", "fleetward.api", "rejected fwk_***"),
        ("error", "fleetward.broker", "crashed"),
    ]
    ts = dt.datetime.fromisoformat(entries[0]["ts"])
    assert ts.tzinfo is not None
    assert before - dt.timedelta(seconds=5) <= ts <= dt.datetime.now(dt.UTC)
    assert entries[1]["code"] == "access.unauthenticated"
    assert entries[1]["peer"] == "10.0.0.9"
    assert "exc" not in entries[1]
    assert "RuntimeError: boom with Bearer ***" in entries[2]["exc"]
    assert _secret_of(token) not in "\n".join(lines)


def test_json_keeps_non_ascii_and_newlines_inside_one_line(read_log: ReadLog) -> None:
    configure_logging("info", "json")
    logging.getLogger("fleetward.test").info("Gerät «Küche»\nsecond line")
    lines = read_log().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["msg"] == "Gerät «Küche»\nsecond line"


def test_a_malformed_log_call_neither_raises_nor_prints_its_arguments(
    read_log: ReadLog,
) -> None:
    # Driven through the hub's handler alone: pytest's own capture handler on the root
    # logger would raise on the bad format before ours is reached.
    configure_logging("info", "text")
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_fleetward", False)]
    log = logging.getLogger("fleetward.test")
    token = MINTED_KEYS[3]
    for msg, args in [("two %s %s but one given", (token,)), ("%(missing)s", ({"k": token},))]:
        handler.handle(log.makeRecord(log.name, logging.INFO, __file__, 1, msg, args, None))
    out = read_log()
    assert _secret_of(token) not in out
    assert "two %s %s but one given" in out
    assert "%(missing)s" in out


def test_configure_logging_is_idempotent_and_honours_the_level(read_log: ReadLog) -> None:
    configure_logging("info", "text")
    configure_logging("warning", "json")
    log = logging.getLogger("fleetward.test")
    log.info("quiet")
    log.warning("loud")
    lines = read_log().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["msg"] == "loud"


def test_httpx_request_lines_are_kept_out(read_log: ReadLog) -> None:
    """httpx logs each request's full URL at INFO; a webhook URL may carry a token."""
    configure_logging("debug", "text")
    logging.getLogger("httpx").info("HTTP Request: POST https://hooks.example/x?token=sesame")
    logging.getLogger("httpx").warning("pool exhausted")
    err = read_log()
    assert "sesame" not in err
    assert "pool exhausted" in err
