"""Property: attenuation never escalates, however long the grant chain.

Hypothesis builds random chains of grants from a small alphabet of topic levels (``+``,
``#``, ``$fleet``, device ids), most of them narrowed from their parent so that chains get
deep, the rest arbitrary so that escalations are tried. For every step that
:func:`attenuate` accepts, the child's ACL is covered by its parent's and the root's, it
ends no later and starts no earlier, and every concrete topic the child reaches the root
reaches too, judged by an independent oracle (:func:`fleetward.mqtt.matches`, MQTT 5.0
§4.7). Every step it refuses really did widen something.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import event, given, settings
from hypothesis import strategies as st

from fleetward.access.acl import Acl
from fleetward.access.tokens import MAX_CHAIN_DEPTH, TokenClaims, attenuate, mint, verify
from fleetward.crypto import SigningKey
from fleetward.errors import ForbiddenError
from fleetward.mqtt import is_valid_topic_filter, matches

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
KEY = SigningKey.generate()
_LITERALS = ["devices", "d1", "d2", "telemetry", "commands", "$fleet", "presence", ""]

filters = st.builds(
    lambda body, multi: "/".join([*body, "#"] if multi else body) or "#",
    st.lists(st.sampled_from([*_LITERALS, "+"]), max_size=3),
    st.booleans(),
)
"""Valid filters by construction: '+' whole levels, '#' only last (MQTT-4.7.1-2/3)."""
topics = st.lists(st.sampled_from(_LITERALS), min_size=1, max_size=5).map(
    lambda t: "/".join(t) or "d1"
)
acls = st.builds(
    Acl.of, publish=st.lists(filters, max_size=4), subscribe=st.lists(filters, max_size=4)
)


@st.composite
def _narrowed(draw: st.DrawFn, pattern: str) -> str:
    """A pattern that is usually, not always, narrower than ``pattern``."""
    levels = pattern.split("/")
    out: list[str] = []
    for level in levels:
        if level == "+":
            out.append(draw(st.sampled_from(["+", *_LITERALS])))
        elif level == "#":
            out.extend(draw(st.sampled_from([["#"], ["+"], ["d1"], ["d1", "#"], ["+", "#"]])))
        else:
            out.append(level)
    candidate = "/".join(out)
    return candidate if is_valid_topic_filter(candidate, shared=False) else pattern


@st.composite
def _child_acl(draw: st.DrawFn, parent: Acl) -> Acl:
    if draw(st.integers(0, 3)) == 0:
        return draw(acls)  # arbitrary: often an escalation attempt

    def pick(patterns: tuple[str, ...]) -> list[str]:
        chosen = draw(st.lists(st.sampled_from(patterns), max_size=3)) if patterns else []
        return [draw(_narrowed(p)) for p in chosen]

    return Acl.of(publish=pick(parent.publish), subscribe=pick(parent.subscribe))


def _reaches(patterns: tuple[str, ...], topic: str) -> bool:
    return any(matches(p, topic) for p in patterns)


def _root(acl: Acl) -> TokenClaims:
    return TokenClaims(
        iss="hub",
        aud="mqtt",
        sub="owner",
        tenant="t1",
        jti="root",
        iat=NOW,
        nbf=NOW,
        exp=NOW + dt.timedelta(hours=1),
        acl=acl,
        kind="app",
    )


@settings(max_examples=300, deadline=None)
@given(root_acl=acls, data=st.data(), probes=st.lists(topics, min_size=10, max_size=30))
def test_grant_chains_never_widen(root_acl: Acl, data: st.DataObject, probes: list[str]) -> None:
    root = _root(root_acl)
    parent, now = root, NOW
    for step in range(data.draw(st.integers(MAX_CHAIN_DEPTH, MAX_CHAIN_DEPTH + 3))):
        now += dt.timedelta(seconds=data.draw(st.integers(0, 300)))
        remaining = max(1, int((parent.exp - now).total_seconds()))
        # Mostly within the parent's life (so chains grow), sometimes anything.
        ttl = dt.timedelta(seconds=data.draw(st.integers(1, remaining) | st.integers(1, 7200)))
        acl = data.draw(_child_acl(parent.acl))
        widens = not parent.acl.covers(acl) or now + ttl > parent.exp
        try:
            child = attenuate(parent, acl=acl, ttl=ttl, now=now, jti=f"g{step}")
        except ForbiddenError as e:
            refusal: str | None = e.code
        else:
            refusal = None
        if refusal is not None:
            # A refusal is never arbitrary: something widened, or the chain is full.
            full = len(parent.chain) == MAX_CHAIN_DEPTH
            assert refusal == ("token.depth" if full else "token.escalation")
            assert full or widens
            continue
        assert not widens
        assert parent.acl.covers(child.acl)
        assert root.acl.covers(child.acl)
        assert child.exp <= parent.exp <= root.exp
        assert child.nbf >= parent.nbf >= root.nbf
        assert child.tenant == root.tenant
        assert child.chain == (*parent.chain, parent.jti)
        for topic in probes:
            # The oracle: whatever the child can reach, its parent and the root can reach.
            if _reaches(child.acl.publish, topic):
                assert _reaches(parent.acl.publish, topic), topic
                assert _reaches(root.acl.publish, topic), topic
            if _reaches(child.acl.subscribe, topic):
                assert _reaches(parent.acl.subscribe, topic), topic
                assert _reaches(root.acl.subscribe, topic), topic
        token = mint(child, KEY)
        assert verify(token, {KEY.kid: KEY.public}, now=now, issuer="hub", audience="mqtt") == child
        parent = child
    event(f"chain depth reached: {len(parent.chain)}")


@settings(max_examples=500, deadline=None)
@given(wide=acls, narrow=acls, probes=st.lists(topics, min_size=10, max_size=30))
def test_acl_cover_is_sound(wide: Acl, narrow: Acl, probes: list[str]) -> None:
    if not wide.covers(narrow):
        return
    for topic in probes:
        if _reaches(narrow.publish, topic):
            assert _reaches(wide.publish, topic), topic
        if _reaches(narrow.subscribe, topic):
            assert _reaches(wide.subscribe, topic), topic
        # allows_* (what the broker asks) agrees with the oracle on concrete topics.
        assert wide.allows_publish(topic) == _reaches(wide.publish, topic)
