"""Secrets a person chooses are refused when an attacker would try them early.

The catalogue: factory defaults (Mirai's list and vendor manuals), short secrets,
patterns (repeats, sequences, keyboard walks, common words with digits bolted on) and
secrets that contain what an attacker already knows about the device. Generated
secrets always pass.
"""

from __future__ import annotations

import secrets
import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.access.secret_strength import (
    MAX_LENGTH,
    MIN_GUESS_BITS,
    MIN_LENGTH,
    check_secret,
    estimate_guess_bits,
)
from fleetward.crypto import new_secret
from fleetward.errors import InvalidInputError


def refusal(secret: str, **kwargs: object) -> str | None:
    """The error code ``check_secret`` raises, or ``None`` when it accepts."""
    try:
        check_secret(secret, **kwargs)  # type: ignore[arg-type]
    except InvalidInputError as e:
        return e.code
    return None


@pytest.mark.parametrize(
    ("secret", "code"),
    [
        # too short, however random it looks
        ("", "secret.too_short"),
        ("admin", "secret.too_short"),
        ("xc3511", "secret.too_short"),
        ("K#9vQ!2mZ$7", "secret.too_short"),
        ("a" * (MAX_LENGTH + 1), "secret.too_long"),
        # known defaults, any case, digits and punctuation around, substitutions undone
        ("administrator", "secret.known_default"),
        ("ADMINISTRATOR", "secret.known_default"),
        ("7ujMko0vizxv", "secret.known_default"),  # Mirai
        ("vertex25ektks123", "secret.known_default"),  # Mirai variants
        ("raspberry2024!", "secret.known_default"),
        ("Password123456", "secret.known_default"),
        ("P@ssw0rd2024!", "secret.known_default"),
        ("!!admin2024!!", "secret.known_default"),
        ("changeme12345", "secret.known_default"),
        ("qwertyuiop123", "secret.known_default"),
        ("Qwerty123456", "secret.known_default"),
        ("Summer2024!!", "secret.known_default"),
        ("homeassistant", "secret.known_default"),
        # patterns
        ("aaaaaaaaaaaa", "secret.guessable"),
        ("123456789012", "secret.guessable"),
        ("abcdef123456", "secret.guessable"),
        ("abcdefghijklmnopqrstuvwxyz", "secret.guessable"),
        ("9876543210zyxw", "secret.guessable"),
        ("zxcvbnm,./asdf", "secret.guessable"),
        ("1qaz2wsx3edc4rfv", "secret.guessable"),
        ("!QAZ@WSX#EDC$RFV", "secret.guessable"),
        ("ab12ab12ab12", "secret.guessable"),
        ("monkeymonkeymonkey", "secret.guessable"),
        ("iloveyou4ever", "secret.guessable"),
        ("dragonfly123", "secret.guessable"),
        ("Aa1!Aa1!Aa1!Aa1!", "secret.guessable"),
        # one character class needs 16 characters
        ("thisisalongpw", "secret.guessable"),
        ("QMZVHXKWPTRB", "secret.guessable"),
        ("839201746352", "secret.guessable"),
    ],
)
def test_refused(secret: str, code: str) -> None:
    assert refusal(secret) == code


@pytest.mark.parametrize(
    "secret",
    [
        "correct horse battery staple",
        "Xk8#mP2$vL9q",
        "k3J9x!q2M8w#",
        "qmzvhxkwptrbnjfd",  # one class, but 16 random characters
        "Tr0ub4dor&3xyz",
        "gr8-Owl-tundra-71",
        "Żółw-pije-kawę-9",  # non-ASCII is fine
        "mY 7 wombats eat kelp",
    ],
)
def test_accepted(secret: str) -> None:
    assert refusal(secret) is None


@pytest.mark.parametrize(
    ("secret", "context"),
    [
        ("Kitchen-Sensor-7Xq!", ["kitchen-sensor"]),
        ("mZ8#SN00012345q", ["SN-00012345"]),  # a word of the serial is enough
        ("acme-qP7!vR2#tL", ["Acme Homes"]),
        ("k1tch3n-Zq8!vR2#", ["Kitchen"]),  # substitutions do not hide it
    ],
)
def test_context_is_refused(secret: str, context: list[str]) -> None:
    assert refusal(secret) is None  # strong on its own...
    assert refusal(secret, context=context) == "secret.contains_context"  # ...not here


def test_short_context_strings_do_not_match_everything() -> None:
    assert refusal("Xk8#mP2$vL9q", context=["x", "", "k8", "mP"]) is None


def test_minimum_length_and_bits_are_configurable() -> None:
    assert refusal("K#9vQ!2mZ$", min_length=10) is None
    assert refusal("K#9vQ!2mZ$", min_length=10, min_bits=200) == "secret.guessable"


def test_detail_never_repeats_the_secret() -> None:
    for secret in ("hunter2hunter2", "aaaaaaaaaaaa", "Kitchen-Sensor-7Xq!"):
        with pytest.raises(InvalidInputError) as info:
            check_secret(secret, context=["kitchen-sensor"])
        assert secret not in info.value.detail
        assert secret.casefold() not in info.value.detail.casefold()


def test_estimator_orders_patterns_below_randomness() -> None:
    assert estimate_guess_bits("aaaaaaaaaaaa") < MIN_GUESS_BITS
    assert estimate_guess_bits("abcdefghijkl") < MIN_GUESS_BITS
    assert estimate_guess_bits("abcdefghijkl") < estimate_guess_bits("abcdefghijkl!Q")
    assert estimate_guess_bits("Xk8#mP2$vL9q") > MIN_GUESS_BITS
    assert estimate_guess_bits("") == 0


def test_estimator_is_fast_on_the_longest_inputs() -> None:
    worst = [
        "a" * MAX_LENGTH,
        "ab" * (MAX_LENGTH // 2),
        ("a" * 50 + "b") * 5,
        "".join(secrets.choice(string.printable) for _ in range(MAX_LENGTH)),
    ]
    started = time.perf_counter()
    for secret in worst:
        estimate_guess_bits(secret)
    assert time.perf_counter() - started < 0.5


@settings(max_examples=200)
@given(nbytes=st.integers(min_value=16, max_value=64))
def test_generated_secrets_are_accepted(nbytes: int) -> None:
    """``new_secret`` draws from the OS CSPRNG; at >= 128 bits a refusal would be a bug."""
    assert refusal(new_secret(nbytes)) is None
    assert refusal(new_secret()) is None


@settings(max_examples=200)
@given(st.text(max_size=MAX_LENGTH + 8), st.lists(st.text(max_size=40), max_size=4))
def test_any_input_gets_an_answer_not_a_crash(secret: str, context: list[str]) -> None:
    code = refusal(secret, context=context)
    assert code is None or code.startswith("secret.")


@settings(max_examples=100)
@given(nbytes=st.integers(min_value=12, max_value=64))
def test_random_hex_codes_are_accepted(nbytes: int) -> None:
    """A guard against over-eager patterns: random hex (two classes) is not 'guessable'."""
    assert refusal(secrets.token_hex(nbytes)) is None


def test_min_length_default() -> None:
    assert MIN_LENGTH == 12
