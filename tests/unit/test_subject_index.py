"""The broker's subject index: who a subject's sessions are, and whose token is due."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.access.mqtt_hooks import Identity
from fleetward.broker.session import Session
from fleetward.broker.subjects import SubjectIndex


def _session(client_id: str, name: str = "dev", *tokens: str, ends: float | None = None) -> Session:
    return Session(client_id, Identity(name, "t", token_ids=tokens, expires_at=ends))


def _reidentify(index: SubjectIndex, session: Session, identity: Identity) -> None:
    """What the broker does when a session resumes with a new identity."""
    index.remove(session)
    session.identity = identity
    index.add(session)


def test_a_session_is_found_by_its_name_and_each_token_id() -> None:
    index = SubjectIndex()
    s = _session("c1", "dev", "jti", "parent")
    index.add(s)
    assert index.of("dev") == index.of("jti") == index.of("parent") == [s]
    assert index.of("other") == []
    index.remove(s)
    assert index.of("dev") == index.of("parent") == []
    assert len(index) == 0


def test_a_new_identity_replaces_the_old_one() -> None:
    index = SubjectIndex()
    s = _session("c1", "app", "old", ends=10.0)
    index.add(s)
    _reidentify(index, s, Identity("app", "t", token_ids=("new",), expires_at=20.0))
    assert index.of("old") == []
    assert index.of("new") == [s]
    assert index.expiring(15.0) == []  # the old token's expiry no longer applies
    assert index.expiring(20.0) == [s]


def test_removing_a_replaced_session_leaves_its_successor() -> None:
    index = SubjectIndex()
    first, second = _session("c1"), _session("c1")
    index.add(first)
    index.remove(first)
    index.add(second)
    index.remove(first)  # a late removal of the old object must not drop the new one
    assert index.of("dev") == [second]


def test_expiring_returns_due_sessions_once_in_order() -> None:
    index = SubjectIndex()
    late, soon, never = _session("a", ends=30.0), _session("b", ends=10.0), _session("c")
    for s in (late, soon, never):
        index.add(s)
    assert index.expiring(5.0) == []
    assert index.expiring(10.0) == [soon]
    assert index.expiring(10.0) == []
    index.remove(late)
    assert index.expiring(100.0) == []  # ended sessions are not returned


def test_a_session_re_indexed_with_the_same_token_is_due_once() -> None:
    index = SubjectIndex()
    s = _session("a", ends=10.0)
    index.add(s)
    index.remove(s)
    index.add(s)
    assert index.expiring(10.0) == [s]


def test_recheck_brings_a_session_back() -> None:
    index = SubjectIndex()
    s = _session("a", ends=10.0)
    index.add(s)
    assert index.expiring(10.0) == [s]
    index.recheck(s)
    assert index.expiring(11.0) == [s]


def test_reconnect_storms_do_not_grow_the_expiry_heap() -> None:
    index = SubjectIndex()
    s = _session("a", ends=1e12)
    index.add(s)
    for i in range(10_000):
        _reidentify(index, s, replace(s.identity, token_ids=(f"t{i}",), expires_at=1e12 + i))
    assert len(index._expiries) <= 2 * 1 + 1024 + 1
    assert index.expiring(2e12) == [s]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "swap"]), st.integers(0, 4), st.integers(0, 3)),
        max_size=60,
    )
)
def test_the_index_agrees_with_a_scan(ops: list[tuple[str, int, int]]) -> None:
    """Whatever the order of events, ``of`` matches a scan of the live sessions."""
    index = SubjectIndex()
    live: dict[str, Session] = {}
    for op, c, tok in ops:
        client_id = f"c{c}"
        session = live.get(client_id)
        if op == "add" and session is None:
            live[client_id] = session = _session(client_id, f"n{c % 2}", f"j{tok}", ends=float(tok))
            index.add(session)
        elif op == "remove" and session is not None:
            index.remove(session)
            del live[client_id]
        elif op == "swap" and session is not None:
            _reidentify(index, session, replace(session.identity, token_ids=(f"j{tok}",)))
    for subject in ["n0", "n1", *(f"j{t}" for t in range(4))]:
        expected = {
            s.client_id
            for s in live.values()
            if s.identity.name == subject or subject in s.identity.token_ids
        }
        assert {s.client_id for s in index.of(subject)} == expected
    due = {s.client_id for s in index.expiring(2.0)}
    ends = {s.client_id: s.identity.expires_at for s in live.values()}
    assert due == {c for c, e in ends.items() if e is not None and e <= 2.0}
