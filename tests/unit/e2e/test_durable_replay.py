"""Replay protection that survives a receiver restart (``docs/e2e-format.md`` §8a): an
:class:`Opener` on a real replay file refuses, after a crash or a clean close, every
message it accepted before; a missing or corrupt file is an error; writes are amortised."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import struct
from pathlib import Path

import pytest

from fleetward.e2e import (
    DurableReplayGuard,
    E2EError,
    FileReplayJournal,
    Opener,
    ReplayBounds,
    ReplayStateError,
    Sealer,
    StreamPolicy,
)
from fleetward.e2e.replay import MAX_SEQ
from fleetward.e2e.replay_file import decode_bounds, encode_bounds

from ._world import NOW, TOPIC, World, make_world

SEC = dt.timedelta(seconds=1)
A, B, C = b"sender-a", b"sender-b", b"sender-c"


@pytest.fixture
def world() -> World:
    return make_world()


def _opener(world: World, path: Path, *, create: bool = False) -> Opener:
    return Opener([world.app], world.trusted(), replay_store=FileReplayJournal(path, create=create))


def _seal(sealer: Sealer, world: World, payload: bytes, now: dt.datetime = NOW) -> bytes:
    return sealer.seal(payload, topic=TOPIC, recipients=[world.app.record], now=now)


def _refused(opener: Opener, data: bytes, now: dt.datetime) -> None:
    with pytest.raises(E2EError):
        opener.open(data, topic=TOPIC, now=now)


@pytest.mark.parametrize("stream", [True, False])
def test_a_crash_does_not_reopen_accepted_messages(
    world: World, tmp_path: Path, stream: bool
) -> None:
    path = tmp_path / "replay"
    sealer = Sealer(world.device, first_seq=1000, stream=stream)
    opener = _opener(world, path, create=True)
    sent = [_seal(sealer, world, b"unlock %d" % i, NOW + i * 60 * SEC) for i in range(3)]
    for i, msg in enumerate(sent):  # a rare sender (one a minute): margin 0
        assert opener.open(msg, topic=TOPIC, now=NOW + i * 60 * SEC).payload == b"unlock %d" % i
    del opener  # a crash: no close()
    later = NOW + 600 * SEC
    again = _opener(world, path)
    for msg in sent:  # a keyed stream message would open cryptographically: only the bound stops it
        _refused(again, msg, later)
    # nothing lost either: the sender's next number is above the bound
    assert again.open(_seal(sealer, world, b"next", later), topic=TOPIC, now=later).seq == 1003


def test_a_crash_of_a_busy_receiver_refuses_only_up_to_the_reservation(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "replay"
    sealer = Sealer(world.device, first_seq=0, policy=StreamPolicy(keyed_every=1))
    opener = _opener(world, path, create=True)
    guard = opener.replay
    assert isinstance(guard, DurableReplayGuard)
    sent = []
    for i in range(2000):  # 100 messages a second for 20 s
        now = NOW + i * SEC / 100
        sent.append(_seal(sealer, world, b"%d" % i, now))
        opener.open(sent[-1], topic=TOPIC, now=now)
    assert guard.writes <= 20  # about one per reserve_seconds (5 s), not one per message
    bound = guard.bounds().senders[world.device.key_id]
    assert 1999 <= bound <= 1999 + 2 * 500  # about 5 s of the sender's traffic ahead
    later = NOW + 30 * SEC
    again = _opener(world, path)
    for msg in sent[::97] + sent[-3:]:
        _refused(again, msg, later)
    skip = Sealer(world.device, first_seq=bound + 1, policy=StreamPolicy(keyed_every=1))
    assert again.open(_seal(skip, world, b"x", later), topic=TOPIC, now=later).seq == bound + 1


def test_a_clean_close_refuses_exactly_what_was_accepted(world: World, tmp_path: Path) -> None:
    path = tmp_path / "replay"
    sealer = Sealer(world.device, first_seq=50, policy=StreamPolicy(keyed_every=1))
    opener = _opener(world, path, create=True)
    first = [_seal(sealer, world, b"%d" % i) for i in range(5)]
    for msg in first:  # all at one instant: the largest margin
        opener.open(msg, topic=TOPIC, now=NOW)
    opener.close()
    assert decode_bounds(path.read_bytes()).senders == {world.device.key_id: 54}
    again = _opener(world, path)
    for msg in first:
        _refused(again, msg, NOW)
    assert again.open(_seal(sealer, world, b"5"), topic=TOPIC, now=NOW).seq == 55


def test_missing_and_corrupt_state_fail_clearly(world: World, tmp_path: Path) -> None:
    path = tmp_path / "replay"
    with pytest.raises(ReplayStateError, match="missing"):
        _opener(world, path)
    _opener(world, path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    good = encode_bounds(ReplayBounds(-1, {A: 7}))
    for bad in (b"", good[:-1], good[:20], b"x" + good[1:], good[:-1] + bytes([good[-1] ^ 1])):
        path.write_bytes(bad)
        with pytest.raises(ReplayStateError, match="corrupt") as info:
            FileReplayJournal(path, create=True).load()  # create never overwrites a file
        assert info.value.code == "e2e.replay_state"
    assert decode_bounds(good) == ReplayBounds(-1, {A: 7})
    top = ReplayBounds(MAX_SEQ, {A: MAX_SEQ, B: 0})
    assert decode_bounds(encode_bounds(top)) == top


def test_a_failed_write_accepts_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    directory.mkdir()
    guard = DurableReplayGuard(FileReplayJournal(directory / "replay", create=True))
    assert guard.accept(A, 5)
    os.unlink(directory / "replay")
    os.rmdir(directory)
    with pytest.raises(ReplayStateError, match="cannot write"):
        guard.accept(A, 6)  # 5 was at the bound (margin 0 for a first message): 6 needs a write
    assert guard.is_fresh(A, 6)
    assert guard.bounds().senders == {A: 5}


def test_full_guard_evicts_lru_into_the_floor(tmp_path: Path) -> None:
    path = tmp_path / "replay"
    guard = DurableReplayGuard(FileReplayJournal(path, create=True), max_senders=2)
    assert guard.accept(A, 10)
    assert guard.accept(B, 100)
    assert guard.accept(A, 11)  # A most recently used: B is evicted next
    assert not guard.is_fresh(C, 100)  # would evict B: the floor would become 100
    assert not guard.accept(C, 100)
    assert len(guard) == 2
    assert guard.accept(C, 101)
    assert guard.floor == guard.bounds().floor >= 100
    assert set(guard.bounds().senders) == {A, C}
    assert not guard.accept(B, 100)  # evicted, but still refused
    restarted = DurableReplayGuard(FileReplayJournal(path), max_senders=1)
    assert len(restarted) == 1
    assert restarted.floor >= guard.bounds().senders[A]
    assert not restarted.accept(A, 11)
    assert not restarted.accept(C, 101)


def test_many_senders_share_writes(tmp_path: Path) -> None:
    guard = DurableReplayGuard(FileReplayJournal(tmp_path / "replay", create=True))
    kids = [i.to_bytes(8, "big") for i in range(200)]
    seqs = dict.fromkeys(kids, 0)
    for t in range(100):  # 200 senders, one message a second each, for 100 s
        for kid in kids:
            guard.now = float(t)
            seqs[kid] += 1
            assert guard.accept(kid, seqs[kid])
    assert guard.writes < 200 * 100 / 4


def test_file_layout_is_the_documented_one(tmp_path: Path) -> None:
    path = tmp_path / "replay"
    FileReplayJournal(path, create=True).save(ReplayBounds(41, {A: 7, B: MAX_SEQ}, {A: 3}))
    raw = path.read_bytes()
    body, digest = raw[:-32], raw[-32:]
    assert hashlib.sha256(body).digest() == digest
    magic, has_floor, floor, count = struct.unpack(">9sBQI", body[:22])
    assert (magic, has_floor, floor, count) == (b"FWE2ERPL\x01", 1, 41, 2)
    entries = [struct.unpack(">8sQI", body[i : i + 20]) for i in (22, 42)]
    assert entries == [(A, 7, 3), (B, MAX_SEQ, 0)]
    assert len(body) == 62


def test_a_restart_reserves_every_margin_again_in_one_write(tmp_path: Path) -> None:
    path = tmp_path / "replay"
    guard = DurableReplayGuard(FileReplayJournal(path, create=True))
    kids = [i.to_bytes(8, "big") for i in range(50)]
    for t in range(20):  # 50 senders, 10 messages a second each
        guard.now = t / 10
        for kid in kids:
            assert guard.accept(kid, 1000 + t)
    guard.checkpoint()
    margins = guard.bounds().headroom
    assert set(margins) == set(kids)
    again = DurableReplayGuard(FileReplayJournal(path))
    assert again.writes == 1  # one write for all senders, not one each
    for kid in kids:
        assert not again.accept(kid, 1019)  # accepted before the restart
        assert again.accept(kid, 1020)
    assert again.writes == 1  # inside the margins reserved at start
    crashed = DurableReplayGuard(FileReplayJournal(path))  # no checkpoint: a crash
    for kid in kids:  # refused up to what the crashed run had reserved
        assert not crashed.is_fresh(kid, 1019 + margins[kid])
        assert crashed.is_fresh(kid, 1020 + margins[kid])
