"""The subscription trie: matching rules, bookkeeping, shared groups and the match cache.

The matching rules are MQTT 5.0 §4.7 (3.1.1 §4.7 says the same): ``+`` matches exactly
one level, possibly empty; ``#`` matches the parent level and every level below it;
a filter that starts with a wildcard never matches a topic that starts with ``$``
(MQTT-4.7.2-1). Shared subscriptions are 5.0 §4.8.2. The property tests compare the trie
with a brute-force scan that applies :func:`fleetward.mqtt.matches` to every filter.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fleetward.broker.subscriptions import Match, SubscriptionTrie
from fleetward.mqtt import matches

Trie = SubscriptionTrie[str, int]


def _direct(match: Match[str, int]) -> dict[str, list[int]]:
    return {key: sorted(values) for key, values in match.direct}


Members = tuple[tuple[str, int], ...]


def _groups(match: Match[str, int]) -> list[tuple[str, Members]]:
    """The matched shared subscriptions as sorted (share name, sorted members) pairs."""
    return sorted((group, tuple(sorted(members))) for group, members in match.groups)


def _who(trie: Trie, topic: str) -> set[str]:
    return {key for key, _ in trie.match(topic).direct}


# -- matching ----------------------------------------------------------------------------------


def test_exact_filter_matches_only_its_own_topic() -> None:
    trie = Trie()
    trie.add("sport/tennis", "s", 1)
    assert _who(trie, "sport/tennis") == {"s"}
    for other in (
        "sport",
        "sport/tennis/player1",
        "sport/Tennis",
        "sport/tennis/",
        "/sport/tennis",
    ):
        assert _who(trie, other) == set(), other


def test_plus_matches_exactly_one_level_including_an_empty_one() -> None:
    """5.0 §4.7.1.3: "sport/+" matches "sport/" but not "sport" or "sport/a/b"."""
    trie = Trie()
    trie.add("sport/+", "s", 1)
    trie.add("+/+", "two", 1)
    trie.add("/+", "lead", 1)
    assert _who(trie, "sport/tennis") == {"s", "two"}
    assert _who(trie, "sport/") == {"s", "two"}
    assert _who(trie, "sport") == set()
    assert _who(trie, "sport/tennis/player1") == set()
    assert _who(trie, "/finance") == {"two", "lead"}


def test_plus_in_the_middle() -> None:
    trie = Trie()
    trie.add("a/+/c", "s", 1)
    assert _who(trie, "a/b/c") == {"s"}
    assert _who(trie, "a//c") == {"s"}
    assert _who(trie, "a/b/d") == set()
    assert _who(trie, "a/b/c/d") == set()


def test_hash_matches_the_parent_level_and_everything_below() -> None:
    """5.0 §4.7.1.2: "sport/tennis/player1/#" also matches "sport/tennis/player1"."""
    trie = Trie()
    trie.add("sport/tennis/player1/#", "s", 1)
    for topic in (
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport/tennis/player1/score/wimbledon",
        "sport/tennis/player1/",
    ):
        assert _who(trie, topic) == {"s"}, topic
    assert _who(trie, "sport/tennis") == set()
    assert _who(trie, "sport/tennis/player2") == set()


def test_hash_alone_matches_every_topic_not_starting_with_dollar() -> None:
    trie = Trie()
    trie.add("#", "all", 1)
    for topic in ("a", "a/b/c", "/", "/a", "a/", "x$/y"):
        assert _who(trie, topic) == {"all"}, topic


def test_wildcards_at_the_first_level_never_match_dollar_topics() -> None:
    """MQTT-4.7.2-1: "#", "+/…" do not match "$SYS/…"; "$SYS/#" and "$SYS/+" do."""
    trie = Trie()
    for topic_filter in ("#", "+", "+/monitor/#", "+/#", "+/+/Clients"):
        trie.add(topic_filter, topic_filter, 1)
    trie.add("$SYS/#", "sys-hash", 1)
    trie.add("$SYS/+/Clients", "sys-plus", 1)
    assert _who(trie, "$SYS/monitor/Clients") == {"sys-hash", "sys-plus"}
    assert _who(trie, "$SYS") == {"sys-hash"}
    assert _who(trie, "$fleet/x") == set()
    assert _who(trie, "SYS/monitor/Clients") == {"#", "+/monitor/#", "+/#", "+/+/Clients"}


def test_dollar_below_the_first_level_is_an_ordinary_character() -> None:
    trie = Trie()
    trie.add("a/+", "plus", 1)
    trie.add("a/#", "hash", 1)
    assert _who(trie, "a/$b") == {"plus", "hash"}


def test_no_normalisation_of_case_or_spaces() -> None:
    """MQTT-4.7.3-4: matching is exact, code point by code point."""
    trie = Trie()
    trie.add("ACCOUNTS", "upper", 1)
    trie.add("Accounts payable", "spaced", 1)
    assert _who(trie, "Accounts") == set()
    assert _who(trie, "ACCOUNTS") == {"upper"}
    assert _who(trie, "Accounts payable") == {"spaced"}


def test_a_subscriber_matched_by_several_filters_appears_once_with_every_value() -> None:
    """MQTT-3.3.4-2/3: one copy per subscriber, carrying all matching subscriptions."""
    trie = Trie()
    trie.add("a/b", "s", 1)
    trie.add("a/+", "s", 2)
    trie.add("#", "s", 3)
    trie.add("a/b", "t", 4)
    match = trie.match("a/b")
    assert sorted(key for key, _ in match.direct) == ["s", "t"]
    assert _direct(match) == {"s": [1, 2, 3], "t": [4]}


# -- add, replace, remove, prune -------------------------------------------------------------


def test_add_reports_a_replacement_and_keeps_the_new_value() -> None:
    trie = Trie()
    assert trie.add("a/b", "s", 1) is False
    assert trie.add("a/b", "s", 2) is True
    assert trie.count == 1
    assert _direct(trie.match("a/b")) == {"s": [2]}


def test_remove_reports_whether_the_subscription_existed() -> None:
    trie = Trie()
    trie.add("a/b", "s", 1)
    trie.add("a/b", "t", 1)
    assert trie.remove("a/b", "x") is False
    assert trie.remove("a/c", "s") is False
    assert trie.remove("a", "s") is False
    assert trie.remove("a/b/c", "s") is False
    assert trie.remove("a/b", "s", group="g") is False
    assert trie.count == 2
    assert trie.remove("a/b", "s") is True
    assert trie.remove("a/b", "s") is False
    assert trie.count == 1
    assert _who(trie, "a/b") == {"t"}


def test_remove_works_whatever_the_stored_value() -> None:
    """The trie is generic in its values: a falsy or None value is still a subscription."""
    trie: SubscriptionTrie[str, object] = SubscriptionTrie()
    for key, value in (("zero", 0), ("false", False), ("empty", ""), ("none", None)):
        trie.add("a/b", key, value)
    assert {key for key, _ in trie.match("a/b").direct} == {"zero", "false", "empty", "none"}
    for key in ("zero", "false", "empty", "none"):
        assert trie.remove("a/b", key) is True, key
    assert trie.count == 0
    assert trie.match("a/b").direct == ()


def test_remove_prunes_nodes_nobody_needs_any_more() -> None:
    trie = Trie()
    trie.add("a/b/c/d", "s", 1)
    trie.add("a/+/#", "s", 1)
    trie.add("$share-ish/x", "s", 1, group="g")
    trie.remove("a/b/c/d", "s")
    trie.remove("a/+/#", "s")
    trie.remove("$share-ish/x", "s", group="g")
    assert trie.count == 0
    assert trie._root.children == {}  # every level went away with its last subscriber


def test_remove_keeps_levels_other_filters_still_use() -> None:
    trie = Trie()
    for topic_filter in ("a", "a/b", "a/b/c", "a/b/#"):
        trie.add(topic_filter, topic_filter, 1)
    assert trie.remove("a/b", "a/b")
    assert _who(trie, "a") == {"a"}
    assert _who(trie, "a/b") == {"a/b/#"}
    assert _who(trie, "a/b/c") == {"a/b/c", "a/b/#"}
    assert set(trie._root.children) == {"a"}
    assert set(trie._root.children["a"].children["b"].children) == {"c", "#"}


# -- shared subscriptions (5.0 §4.8.2) ---------------------------------------------------------


def test_shared_members_are_reported_as_a_group_not_as_direct_subscribers() -> None:
    trie = Trie()
    trie.add("jobs/+", "w1", 1, group="workers")
    trie.add("jobs/+", "w2", 2, group="workers")
    trie.add("jobs/#", "audit", 0)
    match = trie.match("jobs/7")
    assert _direct(match) == {"audit": [0]}
    assert _groups(match) == [("workers", (("w1", 1), ("w2", 2)))]


def test_a_session_with_a_shared_and_a_plain_subscription_is_in_both() -> None:
    """5.0 §4.8.2: the plain subscription gets its copy; the shared one may send another."""
    trie = Trie()
    trie.add("jobs/+", "w1", 1, group="workers")
    trie.add("jobs/+", "w1", 2)
    match = trie.match("jobs/7")
    assert _direct(match) == {"w1": [2]}
    assert _groups(match) == [("workers", (("w1", 1),))]
    assert trie.count == 2


def test_different_share_names_are_different_groups() -> None:
    trie = Trie()
    trie.add("jobs/+", "a", 1, group="consumer1")
    trie.add("jobs/+", "b", 1, group="consumer2")
    assert _groups(trie.match("jobs/1")) == [
        ("consumer1", (("a", 1),)),
        ("consumer2", (("b", 1),)),
    ]


def test_same_share_name_with_different_filters_are_separate_shared_subscriptions() -> None:
    """5.0 §4.8.2: "Each Shared Subscription is independent from any other. It is possible
    to have two Shared Subscriptions with overlapping filters. In such cases a message that
    matches both Shared Subscriptions will be processed separately by both of them."

    ``$share/g/jobs/+`` and ``$share/g/jobs/#`` are two shared subscriptions: a message on
    ``jobs/7`` goes to one member of each, so the match must list two groups.
    """
    trie = Trie()
    trie.add("jobs/+", "w1", 1, group="g")
    trie.add("jobs/#", "w2", 2, group="g")
    trie.add("jobs/#", "w1", 3, group="g")
    members = sorted(sorted(m) for _, m in trie.match("jobs/7").groups)
    assert members == [[("w1", 1)], [("w1", 3), ("w2", 2)]]


def test_removing_the_last_member_removes_the_group() -> None:
    trie = Trie()
    trie.add("jobs/+", "w1", 1, group="workers")
    trie.add("jobs/+", "w2", 1, group="workers")
    assert trie.remove("jobs/+", "w1", group="workers")
    assert _groups(trie.match("jobs/1")) == [("workers", (("w2", 1),))]
    assert trie.remove("jobs/+", "w2", group="workers")
    assert trie.match("jobs/1").groups == ()
    assert trie.remove("jobs/+", "w2", group="workers") is False
    assert trie.count == 0


def test_shared_and_plain_subscriptions_are_removed_independently() -> None:
    trie = Trie()
    trie.add("jobs/+", "w1", 1, group="workers")
    trie.add("jobs/+", "w1", 2)
    assert trie.remove("jobs/+", "w1")
    match = trie.match("jobs/1")
    assert match.direct == ()
    assert _groups(match) == [("workers", (("w1", 1),))]


# -- the match cache ---------------------------------------------------------------------------


def test_a_repeated_match_is_served_from_the_cache() -> None:
    trie = Trie()
    trie.add("a/+", "s", 1)
    first = trie.match("a/b")
    assert trie.match("a/b") is first


def test_add_invalidates_cached_matches() -> None:
    trie = Trie()
    trie.add("a/+", "s", 1)
    assert _who(trie, "a/b") == {"s"}
    assert _who(trie, "x/y") == set()
    trie.add("#", "t", 1)
    assert _who(trie, "a/b") == {"s", "t"}
    assert _who(trie, "x/y") == {"t"}
    trie.add("a/+", "s", 9)  # a replacement changes the value the router sees
    assert _direct(trie.match("a/b")) == {"s": [9], "t": [1]}
    trie.add("a/b", "w", 1, group="g")
    assert _groups(trie.match("a/b")) == [("g", (("w", 1),))]


def test_remove_invalidates_cached_matches() -> None:
    trie = Trie()
    trie.add("a/+", "s", 1)
    trie.add("a/b", "w", 1, group="g")
    match = trie.match("a/b")
    assert _who(trie, "a/b") == {"s"}
    assert match.groups
    trie.remove("a/+", "s")
    assert _who(trie, "a/b") == set()
    trie.remove("a/b", "w", group="g")
    assert trie.match("a/b").groups == ()


def test_a_failed_remove_leaves_the_cache_correct() -> None:
    trie = Trie()
    trie.add("a/+", "s", 1)
    before = trie.match("a/b")
    assert trie.remove("a/+", "nobody") is False
    assert _direct(trie.match("a/b")) == _direct(before) == {"s": [1]}


def test_cached_results_are_immutable_snapshots() -> None:
    trie = Trie()
    trie.add("a/+", "s", 1)
    match = trie.match("a/b")
    trie.add("a/+", "t", 1)
    assert _who_in(match) == {"s"}, "an earlier result must not change under the caller"


def _who_in(match: Match[str, int]) -> set[str]:
    return {key for key, _ in match.direct}


# -- properties: the trie agrees with a brute-force scan ---------------------------------------

_LEVELS = ["a", "b", "", "$s"]
_KEYS = ["k0", "k1", "k2", "k3"]
_GROUPS = ["g1", "g2"]


@st.composite
def _filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(st.sampled_from([*_LEVELS, "+"]), min_size=0, max_size=4))
    if draw(st.booleans()) or not levels:
        levels.append("#")
    return "/".join(levels)


_topics = (
    st.lists(st.sampled_from(_LEVELS), min_size=1, max_size=5)
    .map("/".join)
    .filter(bool)  # a topic name is at least one character (MQTT-4.7.3-1)
)

_Sub = tuple[str, str, int, str | None]
_subs = st.lists(
    st.tuples(_filters(), st.sampled_from(_KEYS), st.integers(0, 2), st.none()),
    max_size=12,
)
_shared_subs = st.lists(
    st.tuples(
        _filters(),
        st.sampled_from(_KEYS),
        st.integers(0, 2),
        st.one_of(st.none(), st.sampled_from(_GROUPS)),
    ),
    max_size=12,
)


def _build(subs: list[_Sub]) -> tuple[Trie, dict[tuple[str, str | None, str], int]]:
    """The trie and the model: (filter, group, key) -> value, later adds replacing."""
    trie = Trie()
    model: dict[tuple[str, str | None, str], int] = {}
    for topic_filter, key, value, group in subs:
        replaced = trie.add(topic_filter, key, value, group=group)
        assert replaced == ((topic_filter, group, key) in model)
        model[topic_filter, group, key] = value
    assert trie.count == len(model)
    return trie, model


def _expected_direct(
    model: dict[tuple[str, str | None, str], int], topic: str
) -> dict[str, Counter[int]]:
    found: dict[str, Counter[int]] = {}
    for (topic_filter, group, key), value in model.items():
        if group is None and matches(topic_filter, topic):
            found.setdefault(key, Counter())[value] += 1
    return found


def _expected_groups(
    model: dict[tuple[str, str | None, str], int], topic: str
) -> list[tuple[str, Members]]:
    shared: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for (topic_filter, group, key), value in model.items():
        if group is not None and matches(topic_filter, topic):
            shared.setdefault((group, topic_filter), set()).add((key, value))
    return sorted((group, tuple(sorted(members))) for (group, _), members in shared.items())


def _pick(
    picks: list[int], model: dict[tuple[str, str | None, str], int]
) -> list[tuple[str, str | None, str]]:
    """Distinct model entries chosen by index, in the order of ``picks``."""
    entries = sorted(model, key=str)
    if not entries:
        return []
    return list(dict.fromkeys(entries[i % len(entries)] for i in picks))


def _actual_direct(match: Match[str, int]) -> dict[str, Counter[int]]:
    keys = [key for key, _ in match.direct]
    assert len(keys) == len(set(keys)), "a subscriber must appear once (MQTT-3.3.4-2)"
    return {key: Counter(values) for key, values in match.direct}


_picks = st.lists(st.integers(0, 63), max_size=12)
_topic_lists = st.lists(_topics, min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(subs=_subs, topics=_topic_lists, picks=_picks)
def test_match_equals_brute_force_before_and_after_removals(
    subs: list[_Sub], topics: list[str], picks: list[int]
) -> None:
    """Direct subscribers of every topic are exactly those whose filter ``matches``."""
    trie, model = _build(subs)
    for topic in topics:
        assert _actual_direct(trie.match(topic)) == _expected_direct(model, topic), topic
    doomed = _pick(picks, model)
    if model:
        doomed.append(("never/subscribed", None, "k0"))
    for topic_filter, group, key in doomed:
        existed = (topic_filter, group, key) in model
        assert trie.remove(topic_filter, key, group=group) is existed
        model.pop((topic_filter, group, key), None)
        for topic in topics:  # cached answers must follow every change
            assert _actual_direct(trie.match(topic)) == _expected_direct(model, topic), topic
    assert trie.count == len(model)


@settings(max_examples=200, deadline=None)
@example(  # two shared subscriptions that only differ by filter (5.0 §4.8.2)
    subs=[("a/+", "k0", 0, "g1"), ("a/#", "k1", 0, "g1")], topics=["a/b"], picks=[]
)
@given(subs=_shared_subs, topics=_topic_lists, picks=_picks)
def test_shared_groups_equal_brute_force_before_and_after_removals(
    subs: list[_Sub], topics: list[str], picks: list[int]
) -> None:
    """Each (share name, filter) pair is one shared subscription (5.0 §4.8.2).

    A message matching several of them goes to one member of each, so the match lists
    one group per pair, with that pair's members and their options.
    """
    trie, model = _build(subs)
    for topic in topics:
        match = trie.match(topic)
        assert _actual_direct(match) == _expected_direct(model, topic), topic
        assert _groups(match) == _expected_groups(model, topic), topic
    doomed = _pick(picks, model)
    for topic_filter, group, key in doomed:
        assert trie.remove(topic_filter, key, group=group)
        del model[topic_filter, group, key]
        for topic in topics:
            assert _groups(trie.match(topic)) == _expected_groups(model, topic), topic
    assert trie.count == len(model)


def test_everything_removed_leaves_an_empty_trie() -> None:
    trie, model = _build(
        [
            ("a/+/#", "k0", 1, None),
            ("a/b", "k1", 1, "g1"),
            ("#", "k2", 1, None),
            ("+", "k3", 1, "g2"),
        ]
    )
    for topic_filter, group, key in model:
        assert trie.remove(topic_filter, key, group=group)
    assert trie.count == 0
    assert trie._root.children == {}
