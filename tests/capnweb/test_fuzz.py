"""Hostile input: whatever arrives, feed() never raises and the tables stay within limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capnweb import Limits
from tests.capnweb.peer import Api, Peer

LIMITS = Limits(
    max_message_bytes=4096, max_depth=12, max_outstanding_calls=4, max_exports=8, max_imports=8
)
KNOWN = {"push", "pull", "resolve", "reject", "release", "abort"}

ids = st.integers(min_value=-4, max_value=6)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=8)
)
names = st.sampled_from(["add", "echo", "authenticate", "session", "name", "greet", "nope", "_x"])
paths = st.lists(names | st.integers(-1, 3), max_size=3)


def expressions(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4).map(lambda items: [items]),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
        st.tuples(st.sampled_from(["pipeline", "import"]), ids, paths).map(list),
        st.tuples(
            st.sampled_from(["pipeline", "import"]), ids, paths, st.lists(children, max_size=3)
        ).map(list),
        st.tuples(st.sampled_from(["export", "promise", "writable"]), ids).map(list),
        st.tuples(st.just("date"), scalars).map(list),
        st.tuples(st.just("bytes"), st.text(max_size=8)).map(list),
        st.tuples(st.just("error"), st.text(max_size=4), st.text(max_size=4)).map(list),
        st.tuples(
            st.just("remap"),
            ids,
            paths,
            st.lists(st.tuples(st.just("export"), ids).map(list)),
            st.just([]),
        ).map(list),
        st.sampled_from([["undefined"], ["inf"], ["nan"], [], ["bigint", "12"], ["what"]]),
        st.lists(children, max_size=3),
    )


values = st.recursive(scalars, expressions, max_leaves=12)
# Well-formed traffic, so that hostile frames also land on sessions with state.
plain = st.recursive(scalars, lambda c: st.lists(c, max_size=3).map(lambda items: [items]))
calls = st.tuples(
    st.just("pipeline"), st.just(0), names.map(lambda name: [name]), st.lists(plain, max_size=2)
).map(lambda call: ["push", list(call)])
bookkeeping = st.tuples(st.just("pull"), st.integers(1, 3)).map(list) | st.tuples(
    st.just("release"), st.integers(1, 3), st.just(1)
).map(list)
messages = st.one_of(
    calls,
    calls,
    bookkeeping,
    bookkeeping,
    st.tuples(st.just("push"), values).map(list),
    st.tuples(st.just("pull"), ids).map(list),
    st.tuples(st.sampled_from(["resolve", "reject"]), ids, values).map(list),
    st.tuples(st.just("release"), ids, st.integers(-1, 3)).map(list),
    st.tuples(st.sampled_from(["stream", "abort"]), values).map(list),
    st.just(["pipe"]),
    values,
)


async def run(frames: list[str | bytes]) -> Peer:
    peer = Peer(Api(), LIMITS)
    for frame in frames:
        await peer.session.feed(frame)  # raises nothing, whatever the frame
        stats = peer.session.stats()
        assert stats["exports"] <= LIMITS.max_exports
        assert stats["imports"] <= LIMITS.max_imports
        assert stats["outstanding_calls"] <= LIMITS.max_outstanding_calls
    await asyncio.wait_for(peer.session.drain(), 5)
    for message in peer.sent:
        assert isinstance(message, list)
        assert message[0] in KNOWN
    if peer.session.closed and peer.sent and peer.sent[-1][0] == "abort":
        assert peer.sent[-1][1][0] == "error"
        assert len(peer.sent[-1][1]) == 3
    peer.session.close()
    return peer


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls, min_size=1, max_size=2), st.lists(messages, min_size=1, max_size=8))
def test_random_message_sequences(opening, batch):
    frames: list[str | bytes] = [json.dumps(message) for message in opening + batch]
    asyncio.run(run(frames))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64) | st.text(max_size=64), min_size=1, max_size=4))
def test_random_bytes_and_text(frames):
    peer = asyncio.run(run(frames))
    # Random bytes or text practically never form a valid message: the session aborted.
    assert peer.session.closed
