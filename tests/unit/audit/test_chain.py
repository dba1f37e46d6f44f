"""The pure chain and verifier: every kind of tampering is named, an intact log passes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetward.audit import GENESIS_HASH, AuditEntry, Checkpoint, entry_hash, seal, verify
from fleetward.audit.chain import relink, sign_checkpoint
from fleetward.crypto import SigningKey
from fleetward.errors import InvalidInputError

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
KEY = SigningKey.generate()
KEYS = {KEY.kid: KEY.public}


def chain(n: int, *, start: dt.datetime = T0) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(n):
        entry = seal(
            seq=i + 1,
            prev_hash=prev,
            at=start + dt.timedelta(seconds=i, microseconds=7),
            actor="operator" if i % 2 else f"apikey:k{i}",
            action="device.revoked" if i % 3 else "auth.refused",
            target=f"device:{i}",
            tenant_id=None if i % 4 == 0 else "t-1",
            outcome="ok",
            details={"n": i, "reason": "test", "forced": i % 2 == 0, "note": None},
        )
        out.append(entry)
        prev = entry.hash
    return out


def anchor(entry: AuditEntry, key: SigningKey = KEY) -> Checkpoint:
    return sign_checkpoint(entry.seq, entry.hash, T0 + dt.timedelta(hours=1), key)


def codes(entries: list[AuditEntry], checkpoints: list[Checkpoint]) -> list[tuple[str, int]]:
    return [(p.code, p.seq) for p in verify(entries, checkpoints, KEYS).problems]


def test_intact_log_passes_and_reports_its_anchor() -> None:
    entries = chain(10)
    report = verify(entries, [anchor(entries[4]), anchor(entries[7])], KEYS)
    assert report.ok
    assert (report.entries, report.checkpoints, report.last_seq) == (10, 2, 10)
    assert (report.anchored_seq, report.unanchored) == (8, 2)
    assert verify([], [], KEYS).ok


def test_hash_follows_the_documented_recipe() -> None:
    # An auditor with only the docstring and any JSON library gets the same hash.
    entry = seal(
        seq=1,
        prev_hash=GENESIS_HASH,
        at=dt.datetime(2026, 3, 1, 13, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        actor="operator",
        action="tenant.deleted",
        target="tenant:é",
        details={"b": 1, "a": True},
    )
    body = (
        '{"action":"tenant.deleted","actor":"operator","at":"2026-03-01T12:00:00.000005Z",'
        '"details":{"a":true,"b":1},"outcome":"ok","prev_hash":"' + GENESIS_HASH + '",'
        '"seq":1,"target":"tenant:é","tenant_id":null}'
    )
    assert json.loads(body)  # well-formed
    expected = hashlib.sha256(GENESIS_HASH.encode() + body.encode("utf-8")).hexdigest()
    assert entry.hash == expected == entry_hash(entry)
    assert entry.at.tzinfo == dt.UTC


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "someone-else"},
        {"action": "device.enrolled"},
        {"outcome": "refused"},
        {"target": None},
        {"tenant_id": "t-2"},
        {"details": {"n": 4, "reason": "test", "forced": True, "note": None}},
        {"at": T0},
        {"hash": "f" * 64},
    ],
)
def test_an_edited_entry_is_named(change: dict[str, object]) -> None:
    entries = chain(8)
    entries[3] = dataclasses.replace(entries[3], **change)  # type: ignore[arg-type]
    assert codes(entries, [anchor(entries[-1])]) == [
        ("entry.edited", 4),
        *([("entry.broken_link", 5)] if "hash" in change else []),
    ]


def test_a_removed_entry_is_named() -> None:
    entries = chain(8)
    del entries[2]
    assert codes(entries, [anchor(entries[-1])]) == [("entry.missing", 3)]
    del entries[2:4]
    report = verify(entries, [], KEYS)
    assert [(p.code, p.seq) for p in report.problems] == [("entry.missing", 3)]
    assert "entries 3..5 missing" in report.problems[0].message


def test_reordered_entries_are_named() -> None:
    entries = chain(8)
    entries[2], entries[5] = entries[5], entries[2]
    found = codes(entries, [anchor(entries[-1])])
    assert ("entry.missing", 3) in found
    assert ("entry.out_of_order", 3) in found


def test_a_swap_of_stored_contents_is_named() -> None:
    # What swapping two rows' columns (not their seq keys) in the database looks like.
    entries = chain(8)
    a, b = entries[2], entries[5]
    entries[2] = dataclasses.replace(b, seq=3)
    entries[5] = dataclasses.replace(a, seq=6)
    found = codes(entries, [])
    assert ("entry.edited", 3) in found
    assert ("entry.edited", 6) in found


def test_a_truncated_tail_is_caught_by_the_checkpoint() -> None:
    entries = chain(10)
    checkpoints = [anchor(entries[4]), anchor(entries[9])]
    assert codes(entries[:7], checkpoints) == [("checkpoint.beyond_end", 10)]
    assert codes([], checkpoints) == [("checkpoint.beyond_end", 5), ("checkpoint.beyond_end", 10)]


def test_without_a_checkpoint_a_truncated_tail_is_only_unanchored() -> None:
    entries = chain(10)
    report = verify(entries[:7], [anchor(entries[4])], KEYS)
    assert report.ok  # the limit of any hash chain: the unsigned tail can be cut ...
    assert (report.anchored_seq, report.unanchored) == (5, 2)  # ... and the report says so


def test_a_consistently_rehashed_rewrite_is_caught_by_the_checkpoint() -> None:
    entries = chain(10)
    checkpoints = [anchor(entries[6])]
    forged = dataclasses.replace(entries[2], details={"n": 2, "reason": "nothing to see"})
    rewritten = entries[:2] + relink([forged, *entries[3:]], seq=3, prev_hash=entries[1].hash)
    assert codes(rewritten, []) == []  # the chain alone cannot tell
    assert codes(rewritten, checkpoints) == [("checkpoint.mismatch", 7)]


def test_a_rewrite_that_drops_an_anchored_entry_is_named() -> None:
    entries = chain(10)
    shortened = entries[:4] + relink(entries[5:], seq=5, prev_hash=entries[3].hash)
    assert codes(shortened, [anchor(entries[9])]) == [("checkpoint.beyond_end", 10)]


def test_forged_checkpoints_are_refused() -> None:
    entries = chain(6)
    intruder = SigningKey.generate()
    good = anchor(entries[5])
    assert codes(entries, [anchor(entries[5], intruder)]) == [("checkpoint.unknown_key", 6)]
    moved = dataclasses.replace(good, head_hash=entries[4].hash, seq=5)
    assert codes(entries, [moved]) == [("checkpoint.bad_signature", 5)]
    flipped = dataclasses.replace(
        good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:]
    )
    assert codes(entries, [flipped]) == [("checkpoint.bad_signature", 6)]
    assert codes(entries, [dataclasses.replace(good, signature=b"")]) == [
        ("checkpoint.bad_signature", 6)
    ]
    # An intruder's key relabelled with the trusted kid still fails the signature.
    relabelled = dataclasses.replace(anchor(entries[5], intruder), kid=KEY.kid)
    assert codes(entries, [relabelled]) == [("checkpoint.bad_signature", 6)]
    # A checkpoint is not anchoring when its key is unknown.
    assert verify(entries, [anchor(entries[5], intruder)], KEYS).anchored_seq == 0


def test_a_checkpoint_whose_entry_was_removed_is_named() -> None:
    entries = chain(6)
    checkpoints = [anchor(entries[2])]
    del entries[2]
    assert codes(entries, checkpoints) == [("entry.missing", 3), ("checkpoint.unmatched", 3)]


def test_problems_are_bounded_but_counted() -> None:
    entries = [dataclasses.replace(e, hash="0" * 64) for e in chain(30)]
    report = verify(entries, [], KEYS, max_problems=5)
    assert len(report.problems) == 5
    assert report.omitted > 0
    assert not report.ok


def test_relink_keeps_content_and_order() -> None:
    entries = chain(5)
    moved = relink(entries, seq=11, prev_hash="a" * 64)
    assert [e.seq for e in moved] == [11, 12, 13, 14, 15]
    assert [e.details for e in moved] == [e.details for e in entries]
    assert moved[0].prev_hash == "a" * 64
    assert all(entry_hash(e) == e.hash for e in moved)


@pytest.mark.parametrize(
    "bad",
    [
        {"at": dt.datetime(2026, 1, 1)},  # noqa: DTZ001 - naive on purpose
        {"action": "Auth Refused"},
        {"action": "auth"},
        {"actor": ""},
        {"actor": "x" * 201},
        {"outcome": "ok\x00"},
        {"details": {"Password": "x"}},
        {"details": {"ratio": 0.5}},
        {"details": {"nested": {"a": 1}}},
        {"details": {"big": 2**64}},
        {"details": {f"k{i}": i for i in range(33)}},
        {"details": {"text": "\ud800"}},
        {"seq": 0},
    ],
)
def test_seal_refuses_what_it_could_not_hash_stably(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "seq": 1,
        "prev_hash": GENESIS_HASH,
        "at": T0,
        "actor": "operator",
        "action": "auth.refused",
    }
    with pytest.raises(InvalidInputError) as info:
        seal(**{**fields, **bad})  # type: ignore[arg-type]
    assert info.value.code == "audit.invalid"


# -- property: any single mutation of an anchored log is reported ---------------------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), _text)
_record = st.fixed_dictionaries(
    {
        "actor": _text,
        "action": st.sampled_from(["auth.ok", "auth.refused", "device.revoked", "token.minted"]),
        "target": st.none() | _text,
        "tenant_id": st.none() | st.sampled_from(["t-1", "t-2"]),
        "outcome": st.sampled_from(["ok", "refused", "failed"]),
        "details": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), _scalar, max_size=6
        ),
        "gap_us": st.integers(0, 10**9),
    }
)
_FIELDS = ("seq", "at", "tenant_id", "actor", "action", "target", "outcome", "details", "prev_hash")


def _build(records: list[dict[str, object]]) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev, at = GENESIS_HASH, T0
    for i, rec in enumerate(records):
        at = at + dt.timedelta(microseconds=rec["gap_us"])  # type: ignore[arg-type]
        fields = {k: v for k, v in rec.items() if k != "gap_us"}
        out.append(seal(seq=i + 1, prev_hash=prev, at=at, **fields))  # type: ignore[arg-type]
        prev = out[-1].hash
    return out


def _edited(entry: AuditEntry, name: str) -> AuditEntry:
    value = getattr(entry, name)
    new: object
    if name == "seq":
        new = value + 1
    elif name == "at":
        new = value + dt.timedelta(microseconds=1)
    elif name == "details":
        new = {**value, "zz_added_key": 1}
    elif name == "prev_hash":
        new = "1" * 64 if value != "1" * 64 else "2" * 64
    else:
        new = (value or "") + "x"
    return dataclasses.replace(entry, **{name: new})  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(_record, min_size=1, max_size=20),
    mutation=st.sampled_from(["edit", "delete", "swap"]),
    data=st.data(),
)
def test_any_single_mutation_is_reported(
    records: list[dict[str, object]], mutation: str, data: st.DataObject
) -> None:
    entries = _build(records)
    checkpoints = [anchor(entries[-1])]  # as close() leaves it: the head is anchored
    assert verify(entries, checkpoints, KEYS).ok
    mutated = list(entries)
    i = data.draw(st.integers(0, len(entries) - 1), label="index")
    if mutation == "edit":
        mutated[i] = _edited(entries[i], data.draw(st.sampled_from(_FIELDS), label="field"))
    elif mutation == "delete":
        del mutated[i]
    else:
        if len(entries) < 2:
            return
        j = data.draw(st.integers(0, len(entries) - 1).filter(lambda j: j != i), label="other")
        mutated[i], mutated[j] = mutated[j], mutated[i]
    assert not verify(mutated, checkpoints, KEYS).ok


def test_int_enum_details_are_stored_as_plain_integers() -> None:
    """An IntEnum detail (an MQTT reason code) is checked by value, not by walking a range.

    ``IntEnum in range(...)`` falls back to iterating the range; with the 64-bit bound that
    never ends, which once froze the broker's loop on the first refused subscription.
    """
    import enum

    class Code(enum.IntEnum):
        NOT_AUTHORIZED = 0x87

    entry = seal(
        seq=1,
        prev_hash=GENESIS_HASH,
        at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        actor="mqtt:alice",
        action="subscribe.refused",
        details={"reason_code": Code.NOT_AUTHORIZED},
    )
    assert entry.details == {"reason_code": 0x87}
    assert type(entry.details["reason_code"]) is int


_text = st.text(min_size=1, max_size=40)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=40)
)


@settings(max_examples=300, deadline=None)
@given(
    actor=_text,
    target=st.none() | _text,
    tenant=st.none() | st.text(min_size=1, max_size=36),
    details=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), _scalars),
    micros=st.integers(0, 10**12),
    seq=st.integers(1, 2**40),
)
def test_seal_writes_the_same_canonical_bytes_as_the_json_encoder(
    actor: str,
    target: str | None,
    tenant: str | None,
    details: dict[str, str | int | bool | None],
    micros: int,
    seq: int,
) -> None:
    """The hand-written canonical form (the recording fast path) is the specified one."""
    at = dt.datetime(2001, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    try:
        entry = seal(
            seq=seq,
            prev_hash="ab" * 32,
            at=at,
            actor=actor,
            action="auth.ok",
            target=target,
            tenant_id=tenant,
            details=details,
        )
    except InvalidInputError:
        return  # NUL and the like are refused, as before
    assert entry.hash == entry_hash(entry)
    assert _spelled_out_hash(entry) == entry.hash


def _spelled_out_hash(entry: AuditEntry) -> str:
    """The JSON-encoder path, spelled out as the module docstring specifies it."""
    body = {
        "action": entry.action,
        "actor": entry.actor,
        "at": entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "details": dict(entry.details),
        "outcome": entry.outcome,
        "prev_hash": entry.prev_hash,
        "seq": entry.seq,
        "target": entry.target,
        "tenant_id": entry.tenant_id,
    }
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    return hashlib.sha256(entry.prev_hash.encode() + canonical).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"at": dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)},  # strftime: no padding
        {"at": dt.datetime(2026, 3, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))},
        {"details": {"ratio": 0.5, "z": "é\u2028\x01"}},  # a float only a tampered row holds
        {"details": {"b": [1, 2], "a": None}},
    ],
)
def test_entries_outside_the_common_shape_hash_as_the_encoder_does(
    change: dict[str, object],
) -> None:
    entry = seal(
        seq=3, prev_hash="cd" * 32, at=T0, actor="mqtt:bob", action="auth.ok", target="client:x"
    )
    odd = dataclasses.replace(entry, **change)  # type: ignore[arg-type]
    in_utc = dataclasses.replace(odd, at=odd.at.astimezone(dt.UTC))
    assert entry_hash(odd) == entry_hash(in_utc) == _spelled_out_hash(in_utc)
