"""Refuse secrets an attacker would try first: defaults, short ones, guessable ones.

IoT botnets do not break cryptography; they log in. Mirai spread in 2016 with a list of
62 factory credentials. So every password or code a person chooses (a device password,
a pairing code) passes :func:`check_secret` before it is hashed and stored. Generated
secrets (:func:`fleetward.crypto.new_secret`) always pass.

The checks, in order, each with its own stable error code:

1. ``secret.too_short`` / ``secret.too_long``: fewer than ``min_length`` (12) or more
   than :data:`MAX_LENGTH` characters (the bound keeps the estimator's work small).
2. ``secret.known_default``: the secret, compared case-insensitively (NFKC + casefold),
   also with leading and trailing digits, punctuation and spaces stripped, and also with
   common character substitutions undone (``p@ssw0rd``), is on the bundled list
   ``data/default_secrets.txt`` (Mirai's credentials, vendor defaults, common passwords).
3. ``secret.contains_context``: the secret contains one of the ``context`` strings
   (device name, serial, tenant name), or a 4+ character word of one, ignoring case and
   substitutions.
4. ``secret.guessable``: a single character class under 16 characters, or fewer than
   ``min_bits`` (40) bits of estimated guesses by :func:`estimate_guess_bits`.

This module is pure: no I/O beyond reading its own data file once, no cryptography.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import string
import unicodedata
from collections.abc import Iterable, Iterator
from importlib import resources

from fleetward.errors import InvalidInputError

__all__ = [
    "MAX_LENGTH",
    "MIN_GUESS_BITS",
    "MIN_LENGTH",
    "check_secret",
    "estimate_guess_bits",
]

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_GUESS_BITS = 40.0  # about 10^12 guesses
_SINGLE_CLASS_MIN_LENGTH = 16
_MIN_CONTEXT = 3  # shorter context strings would match half of all secrets
_MIN_CONTEXT_WORD = 4
_MIN_WORD = 4  # shorter list entries would turn every random "1234" into a "word"
_MIN_RUN = 3  # repeats and sequences
_MIN_WALK = 4  # keyboard walks; three adjacent keys happen by chance too often

_STRIP = string.digits + string.punctuation + string.whitespace
# Substitutions people make to satisfy composition rules; '1' and '!' read as i or l.
_LEET = {"4": "a", "@": "a", "3": "e", "0": "o", "$": "s", "5": "s", "7": "t", "+": "t"}
_LEET_I = str.maketrans(_LEET | {"1": "i", "!": "i"})
_LEET_L = str.maketrans(_LEET | {"1": "l", "!": "l"})

# Class sizes; a brute-force alphabet is the sum over the classes a secret uses.
# Non-ASCII characters count as 100: attackers' character sets rarely cover more, and
# a generous figure would flatter the secret.
_CLASS_SIZES = {"lower": 26, "upper": 26, "digit": 10, "symbol": 33, "other": 100}

# Rows, shifted rows, common non-US layouts, the number pad and the column "walks"
# (1qaz2wsx...). A walk may run either way along any of them.
_KEYBOARD = (
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "7894561230",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
)
_WALKS = tuple(frozenset(itertools.pairwise(row)) for r in _KEYBOARD for row in (r, r[::-1]))
# Shifted keys walk like their unshifted twins (``!QAZ@WSX`` is ``1qaz2wsx``).
_UNSHIFT = str.maketrans('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./")
_WALK_START_BITS = math.log2(2 * sum(len(row) for row in _KEYBOARD))
_YEAR = re.compile(r"(?:19|20)\d\d")
_YEAR_BITS = math.log2(200)
_REPEAT_GREEDY = re.compile(r"(.+)\1+", re.DOTALL)
_REPEAT_LAZY = re.compile(r"(.+?)\1+", re.DOTALL)


def check_secret(
    secret: str,
    *,
    context: Iterable[str] = (),
    min_length: int = MIN_LENGTH,
    min_bits: float = MIN_GUESS_BITS,
) -> None:
    """Raise :class:`InvalidInputError` unless ``secret`` is fit to protect a device.

    ``context`` holds strings an attacker who targets this device knows: its name,
    serial number, tenant or owner name. The error detail never repeats the secret.

    Codes: ``secret.too_short``, ``secret.too_long``, ``secret.known_default``,
    ``secret.contains_context``, ``secret.guessable``.
    """
    if len(secret) < min_length:
        raise InvalidInputError(
            f"secrets need at least {min_length} characters", code="secret.too_short"
        )
    if len(secret) > MAX_LENGTH:
        raise InvalidInputError(
            f"secrets may have at most {MAX_LENGTH} characters", code="secret.too_long"
        )
    folded = _fold(secret)
    if _is_known_default(folded):
        raise InvalidInputError(
            "this is a known default or very common secret", code="secret.known_default"
        )
    readings = (folded, folded.translate(_LEET_I), folded.translate(_LEET_L))
    if any(word in text for word in _context_words(context) for text in readings):
        raise InvalidInputError(
            "the secret contains the device's or tenant's name or serial",
            code="secret.contains_context",
        )
    if len(secret) < _SINGLE_CLASS_MIN_LENGTH and len({_char_class(c) for c in secret}) == 1:
        raise InvalidInputError(
            f"a secret of one character class needs {_SINGLE_CLASS_MIN_LENGTH} characters",
            code="secret.guessable",
        )
    if estimate_guess_bits(secret) < min_bits:
        raise InvalidInputError(
            "the secret follows a guessable pattern (repeats, sequences, keyboard walks, "
            "common words)",
            code="secret.guessable",
        )


def estimate_guess_bits(secret: str) -> float:
    """log2 of the guesses a pattern-aware attacker needs, cheapest reading first.

    A small relative of zxcvbn (Wheeler, USENIX Security 2016). The secret is cut into
    segments, each segment costs the guesses listed below, and the cut with the fewest
    guesses in total wins (dynamic programming over end positions):

    * any character: the alphabet the secret draws from, the sum of the sizes of the
      classes it uses (lowercase 26, uppercase 26, digit 10, ASCII symbol or space 33,
      anything else 100);
    * a run of one character (``aaaa``): its class size, times the run length;
    * an ascending or descending run (``abcdef``, ``654321``): the class size, times
      the length, times two directions;
    * a keyboard walk of 4+ keys (``qwerty``, ``1qaz2wsx``): the starting keys and
      directions on the bundled layouts, times the length, times two if shifted;
    * a year 1900-2099: 200;
    * a word of 4+ characters from the bundled list, also with substitutions undone:
      the list size, times two if substituted;
    * a repeated block (``abcabcabc``): the block's own estimate times the count.

    Letters matched without regard to case cost one more bit when the span is all
    capitals or capitalised, and one bit per letter when the case is mixed. Only the
    first :data:`MAX_LENGTH` characters are examined.

    The estimate errs low on human patterns (it never credits randomness a pattern
    explains) and a little high on short random strings (it assumes every character
    could be any of the alphabet); the length minimum and the single-class rule in
    :func:`check_secret` cover that side.
    """
    secret = secret[:MAX_LENGTH]
    alphabet = sum(_CLASS_SIZES[c] for c in {_char_class(ch) for ch in secret})
    return _estimate(secret, math.log2(alphabet) if alphabet else 0.0)


def _estimate(secret: str, char_bits: float) -> float:
    n = len(secret)
    folded = "".join(_fold_char(c) for c in secret)
    by_end: dict[int, list[tuple[int, float]]] = {}
    for start, end, bits in _matches(secret, folded, char_bits):
        by_end.setdefault(end, []).append((start, bits + _case_bits(secret[start:end])))
    best = [0.0] * (n + 1)
    for end in range(1, n + 1):
        cost = best[end - 1] + char_bits
        for start, bits in by_end.get(end, ()):
            cost = min(cost, best[start] + bits)
        best[end] = cost
    return best[n]


def _matches(secret: str, folded: str, char_bits: float) -> Iterator[tuple[int, int, float]]:
    """Every pattern found, as ``(start, end, bits)`` over ``secret[start:end]``.

    ``bits`` excludes the cost of letter case, which the caller adds.
    """
    yield from _runs(folded)
    yield from _walks(folded)
    for m in _YEAR.finditer(folded):
        yield m.start(), m.end(), _YEAR_BITS
    yield from _words(folded)
    yield from _repeated_blocks(secret, folded, char_bits)


def _runs(folded: str) -> Iterator[tuple[int, int, float]]:
    """Maximal runs of one character, and of code points stepping by +1 or -1."""
    n, start = len(folded), 0
    while start < n - 1:
        step = ord(folded[start + 1]) - ord(folded[start])
        cls = _char_class(folded[start])
        end = start + 1
        while (
            end < n
            and ord(folded[end]) - ord(folded[end - 1]) == step
            and _char_class(folded[end]) == cls
        ):
            end += 1
        length = end - start
        if length >= _MIN_RUN and step in {-1, 0, 1}:
            directions = 2 if step else 1
            yield start, end, math.log2(_CLASS_SIZES[cls] * length * directions)
        start = max(end - 1, start + 1)


def _walks(folded: str) -> Iterator[tuple[int, int, float]]:
    """Maximal keyboard walks: every adjacent pair is adjacent on one row, one way."""
    unshifted = folded.translate(_UNSHIFT)
    pairs = list(itertools.pairwise(unshifted))
    for walk in _WALKS:
        start = 0
        while start < len(pairs):
            end = start
            while end < len(pairs) and pairs[end] in walk:
                end += 1
            length = end - start + 1
            if length >= _MIN_WALK:
                shifted = unshifted[start : end + 1] != folded[start : end + 1]
                yield start, end + 1, _WALK_START_BITS + math.log2(length) + shifted
            start = end + 1


def _words(folded: str) -> Iterator[tuple[int, int, float]]:
    """Occurrences of list entries, as typed or with substitutions undone."""
    words = _default_secrets()
    base = math.log2(len(words))
    readings = (folded, folded.translate(_LEET_I), folded.translate(_LEET_L))
    for word in words:
        if len(word) < _MIN_WORD:
            continue
        for text in readings:
            at = text.find(word)
            while at >= 0:
                end = at + len(word)
                yield at, end, base + (text[at:end] != folded[at:end])
                at = text.find(word, at + 1)


def _repeated_blocks(
    secret: str, folded: str, char_bits: float
) -> Iterator[tuple[int, int, float]]:
    """Blocks repeated back to back, as zxcvbn finds them (greedy versus lazy match)."""
    pos = 0
    while pos < len(folded):
        greedy = _REPEAT_GREEDY.search(folded, pos)
        lazy = _REPEAT_LAZY.search(folded, pos)
        if greedy is None or lazy is None:
            return
        if len(greedy.group(0)) > len(lazy.group(0)):
            match = greedy
            inner = _REPEAT_LAZY.fullmatch(greedy.group(0))
            size = len(inner.group(1) if inner is not None else greedy.group(1))
        else:
            match, size = lazy, len(lazy.group(1))
        count = len(match.group(0)) // size
        block = secret[match.start() : match.start() + size]
        # The block pays for its own case inside _estimate; the caller charges the span's
        # case on top, which only copies whose case differs from the block should pay.
        span = secret[match.start() : match.end()]
        bits = _estimate(block, char_bits) - (_case_bits(span) if span == block * count else 0.0)
        yield match.start(), match.end(), bits + math.log2(count)
        pos = match.end()


def _case_bits(text: str) -> float:
    """Bits for the letter case of a span matched case-insensitively."""
    letters = [c for c in text if c.isalpha()]
    if all(not c.isupper() for c in letters):
        return 0.0
    if all(c.isupper() for c in letters) or not any(c.isupper() for c in letters[1:]):
        return 1.0
    return float(len(letters))


def _is_known_default(folded: str) -> bool:
    stripped = folded.rstrip(_STRIP)
    readings = {folded, stripped, stripped.lstrip(_STRIP)}
    readings |= {r.translate(table) for r in readings for table in (_LEET_I, _LEET_L)}
    readings |= {r.strip(_STRIP) for r in readings}
    defaults = _default_secrets()
    return any(r in defaults for r in readings if r)


def _context_words(context: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for item in context:
        folded = _fold(item).strip()
        if len(folded) >= _MIN_CONTEXT:
            words.add(folded)
        words.update(w for w in re.split(r"[\W_]+", folded) if len(w) >= _MIN_CONTEXT_WORD)
    return words


@functools.cache
def _default_secrets() -> frozenset[str]:
    """The bundled list, folded; read once from the installed package."""
    text = (resources.files("fleetward.access") / "data" / "default_secrets.txt").read_text(
        encoding="utf-8"
    )
    return frozenset(
        _fold(line.strip()) for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _fold_char(char: str) -> str:
    """Casefold one character, keeping length (``ß`` would become ``ss``)."""
    folded = char.casefold()
    return folded if len(folded) == 1 else char


def _char_class(char: str) -> str:
    if char in string.ascii_lowercase:
        return "lower"
    if char in string.ascii_uppercase:
        return "upper"
    if char in string.digits:
        return "digit"
    if char in string.punctuation or char == " ":
        return "symbol"
    return "other"
