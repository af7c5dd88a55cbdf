"""Recorded message traces against RpcSession: the test plays the client with real JSON."""

from __future__ import annotations

import asyncio
import json

import pytest

from capnweb import Limits, RpcError
from tests.capnweb.peer import Api, Peer


def abort_message(message: str) -> list[object]:
    return ["abort", ["error", "TypeError", f"bad RPC message: {message}"]]


async def test_push_pull_resolve_then_release():
    peer = Peer(Api())
    await peer.feed(["push", ["pipeline", 0, ["add"], [1, 2]]], ["pull", 1])
    assert await peer.settle() == [["resolve", 1, 3]]
    assert peer.session.stats()["exports"] == 2
    await peer.feed(["release", 1, 1])
    assert peer.session.stats() == {"exports": 1, "imports": 1, "outstanding_calls": 0}
    assert not peer.session.closed


async def test_unpulled_push_is_never_resolved_and_ids_are_sequential():
    peer = Peer(Api())
    await peer.feed(
        ["push", ["pipeline", 0, ["add"], [1, 1]]],
        ["push", ["pipeline", 0, ["add"], [2, 2]]],
        ["push", ["pipeline", 0, ["echo"], [[["x", ["undefined"]]]]]],
    )
    assert await peer.settle() == []
    await peer.feed(["pull", 3], ["pull", 2], ["pull", 2])
    assert await peer.settle() == [["resolve", 3, [["x", None]]], ["resolve", 2, 4]]


async def test_pipelining_on_a_result_and_a_property_in_one_batch():
    peer = Peer(Api())
    # authenticate() returns an RpcTarget; both follow-up calls use it without a round trip.
    await peer.feed(
        ["push", ["pipeline", 0, ["authenticate"], ["good"]]],
        ["push", ["pipeline", 1, ["greet"], ["Hi"]]],
        ["push", ["pipeline", 1, ["name"]]],
        ["pull", 2],
        ["pull", 3],
    )
    assert sorted(await peer.settle()) == [["resolve", 2, "Hi, alice"], ["resolve", 3, "alice"]]


async def test_pipelining_along_a_property_path_of_a_plain_result():
    peer = Peer(Api())
    await peer.feed(
        ["push", ["pipeline", 0, ["session"], []]],
        ["push", ["pipeline", 1, ["profile", "greet"], []]],
        ["push", ["pipeline", 1, ["tags", 1]]],
        ["push", ["pipeline", 1, ["missing"]]],
        # A pipelined result used as an argument is resolved before the call.
        ["push", ["pipeline", 0, ["echo"], [{"greeting": ["pipeline", 2]}]]],
        ["pull", 2],
        ["pull", 3],
        ["pull", 4],
        ["pull", 5],
    )
    assert sorted(await peer.settle(), key=lambda m: m[1]) == [
        ["resolve", 2, "Hello, bob"],
        ["resolve", 3, "b"],
        ["resolve", 4, ["undefined"]],
        ["resolve", 5, {"greeting": "Hello, bob"}],
    ]


async def test_a_failed_call_rejects_the_calls_pipelined_on_it():
    peer = Peer(Api())
    await peer.feed(
        ["push", ["pipeline", 0, ["authenticate"], ["bad"]]],
        ["push", ["pipeline", 1, ["greet"], []]],
        ["pull", 1],
        ["pull", 2],
    )
    error = ["error", "Error", "Invalid credentials."]
    assert sorted(await peer.settle()) == [["reject", 1, error], ["reject", 2, error]]


async def test_a_returned_target_is_exported_with_a_negative_id_and_refcounted():
    api = Api()
    peer = Peer(api)
    await peer.feed(["push", ["pipeline", 0, ["authenticate"], ["good"]]], ["pull", 1])
    assert await peer.settle() == [["resolve", 1, ["export", -1]]]
    # The same object again: same id, one more reference.
    await peer.feed(["push", ["pipeline", 0, ["authenticate"], ["good"]]], ["pull", 2])
    assert await peer.settle() == [["resolve", 2, ["export", -1]]]
    await peer.feed(["push", ["pipeline", -1, ["greet"], ["Yo"]]], ["pull", 3])
    assert await peer.settle() == [["resolve", 3, "Yo, alice"]]
    await peer.feed(["release", -1, 1])
    assert api.disposed == []
    await peer.feed(["release", -1, 1])
    assert api.disposed == ["alice"]
    # Released for good: referring to it again is a protocol violation.
    await peer.feed(["push", ["pipeline", -1, ["greet"], []]])
    assert await peer.settle() == [abort_message("no such entry on the exports table")]
    assert peer.session.closed


async def test_release_with_the_count_of_all_introductions_at_once():
    api = Api()
    peer = Peer(api)
    await peer.feed(["push", ["pipeline", 0, ["authenticate"], ["good"]]], ["pull", 1])
    await peer.feed(["push", ["pipeline", 0, ["authenticate"], ["good"]]], ["pull", 2])
    await peer.settle()
    await peer.feed(["release", -1, 2])
    assert api.disposed == ["alice"]
    await peer.feed(["release", 1, 1], ["release", 2, 1])
    assert peer.session.stats()["exports"] == 1


async def test_release_beyond_the_refcount_aborts():
    peer = Peer(Api())
    await peer.feed(["push", ["pipeline", 0, ["authenticate"], ["good"]]], ["pull", 1])
    await peer.settle()
    await peer.feed(["release", -1, 2])
    assert await peer.settle() == [
        abort_message("release count does not match the export's references")
    ]


async def test_stubs_the_peer_passed_twice_are_released_with_count_two():
    api = Api()
    peer = Peer(api)
    # The client passes the same callback twice: two introductions of its export -1.
    await peer.feed(
        ["push", ["pipeline", 0, ["keep"], [["export", -1], ["export", -1]]]],
        ["pull", 1],
    )
    assert await peer.settle() == [["resolve", 1, 2]]
    assert peer.session.stats()["imports"] == 2  # main + the callback
    api.kept[0].release()
    assert await peer.settle() == []
    api.kept[1].release()
    assert await peer.settle() == [["release", -1, 2]]
    assert peer.session.stats()["imports"] == 1


async def test_rejections_carry_type_and_message_only(caplog):
    peer = Peer(Api())
    await peer.feed(
        ["push", ["pipeline", 0, ["nope"], []]],
        ["push", ["pipeline", 0, ["_private"], []]],
        ["push", ["pipeline", 0, ["secret"]]],
        ["push", ["pipeline", 0, ["add"], [1]]],
        ["push", ["pipeline", 0, ["boom"], []]],
        ["push", ["pipeline", 0, ["__class__"]]],
        ["push", ["pipeline", 0, ["add"]]],
        ["push", ["pipeline", 0, ["authenticate"], ["bad"]]],
    )
    await peer.feed(*[["pull", i] for i in range(1, 9)])
    messages = sorted(await peer.settle(), key=lambda m: m[1])
    assert messages == [
        ["reject", 1, ["error", "TypeError", "method not found: 'nope'"]],
        ["reject", 2, ["error", "TypeError", "method not found: '_private'"]],
        ["reject", 3, ["error", "TypeError", "property not found: 'secret'"]],
        [
            "reject",
            4,
            ["error", "TypeError", "wrong arguments for 'add': missing a required argument: 'b'"],
        ],
        ["reject", 5, ["error", "Error", "Internal error"]],
        ["reject", 6, ["error", "TypeError", "property not found: '__class__'"]],
        ["reject", 7, ["error", "TypeError", "A method cannot be read as a property."]],
        ["reject", 8, ["error", "Error", "Invalid credentials."]],
    ]
    assert "hunter2" not in json.dumps(peer.sent)
    # The unexpected error is logged here, with its traceback, and only here.
    assert any("hunter2" in str(record.exc_info) for record in caplog.records)


async def test_error_mapper_decides_what_the_peer_sees():
    def mapper(exc: BaseException) -> RpcError | None:
        if isinstance(exc, ValueError):
            return RpcError("Error", "Mapped.", {"code": -32603})
        return None

    peer = Peer(Api(), error_mapper=mapper)
    await peer.feed(["push", ["pipeline", 0, ["boom"], []]], ["pull", 1])
    assert await peer.settle() == [
        ["reject", 1, ["error", "Error", "Mapped.", None, {"code": -32603}]]
    ]


async def test_no_main_object_rejects_calls():
    peer = Peer(None)
    await peer.feed(["push", ["pipeline", 0, ["add"], [1, 2]]], ["pull", 1])
    assert await peer.settle() == [
        ["reject", 1, ["error", "Error", "This connection has no main object."]]
    ]


async def test_server_to_client_callback_round_trip():
    peer = Peer(Api())
    await peer.feed(
        ["push", ["pipeline", 0, ["notify"], [["export", -1], {"state": "working"}]]],
        ["pull", 1],
    )
    # The session calls the client's callback (its export -1) and waits for the answer while
    # the receive loop stays free.
    assert await peer.next() == [
        "push",
        ["pipeline", -1, ["onStatusUpdate"], [{"state": "working"}]],
    ]
    assert await peer.next() == ["pull", 1]
    await peer.feed(["resolve", 1, {"ok": True}])
    assert await peer.settle() == [
        ["release", 1, 1],  # our import of the answer, no longer needed
        ["release", -1, 1],  # the callback stub passed as an argument, after the call
        ["resolve", 1, {"ok": True}],
    ]
    assert peer.session.stats() == {"exports": 2, "imports": 1, "outstanding_calls": 0}


async def test_a_kept_callback_is_called_later_and_released_explicitly():
    api = Api()
    peer = Peer(api)
    await peer.feed(["push", ["pipeline", 0, ["keep"], [["export", -1]]]], ["pull", 1])
    assert await peer.settle() == [["resolve", 1, 1]]
    callback = api.kept[0]

    call = asyncio.ensure_future(callback.call("onArtifactUpdate", [{"chunk": 1}]))
    assert await peer.next() == ["push", ["pipeline", -1, ["onArtifactUpdate"], [{"chunk": 1}]]]
    assert await peer.next() == ["pull", 1]
    await peer.feed(["reject", 1, ["error", "TypeError", "client broke"]])
    with pytest.raises(RpcError) as caught:
        await call
    assert caught.value == RpcError("TypeError", "client broke")
    assert await peer.next() == ["release", 1, 1]

    callback.release()
    assert await peer.next() == ["release", -1, 1]
    with pytest.raises(RpcError, match="released"):
        await callback.call("onStatusUpdate", [{}])


async def test_a_peer_promise_argument_is_awaited_before_the_call():
    peer = Peer(Api())
    await peer.feed(["push", ["pipeline", 0, ["echo"], [["promise", -1]]]], ["pull", 1])
    await asyncio.sleep(0)
    assert peer.sent == []
    await peer.feed(["resolve", -1, "later"])
    assert await peer.settle() == [["release", -1, 1], ["resolve", 1, "later"]]


async def test_peer_abort_rejects_outstanding_calls_and_disposes_exports():
    api = Api()
    peer = Peer(api)
    await peer.feed(["push", ["pipeline", 0, ["keep"], [["export", -1]]]], ["pull", 1])
    await peer.settle()
    call = asyncio.ensure_future(api.kept[0].call("onStatusUpdate", [{}]))
    await peer.next()
    await peer.next()
    await peer.feed(["push", ["pipeline", 0, ["authenticate"], ["good"]]], ["pull", 2])
    await peer.settle()
    await peer.feed(["abort", ["error", "Error", "client went away"]])
    assert peer.session.closed
    with pytest.raises(RpcError) as caught:
        await call
    assert caught.value == RpcError("Error", "client went away")
    assert api.disposed == ["alice"]
    assert peer.session.stats()["exports"] == 0
    # Nothing is sent after the end, and feeding more is ignored.
    await peer.feed(["push", ["pipeline", 0, ["add"], [1, 2]]], ["pull", 3])
    assert await peer.settle() == []


async def test_outgoing_call_after_close_raises():
    api = Api()
    peer = Peer(api)
    await peer.feed(["push", ["pipeline", 0, ["keep"], [["export", -1]]]], ["pull", 1])
    await peer.settle()
    peer.session.close("socket closed")
    with pytest.raises(RpcError, match="socket closed"):
        await api.kept[0].call("onStatusUpdate", [{}])
    assert await peer.settle() == []


async def test_server_initiated_abort_is_sent():
    peer = Peer(Api())
    await peer.session.abort(RpcError("Error", "server shutting down"))
    assert peer.sent == [["abort", ["error", "Error", "server shutting down"]]]
    assert peer.session.closed


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json", "message is not JSON"),
        ("[NaN]", "NaN is not JSON"),
        ("{}", "message is not a [type, ...] array"),
        ("[]", "message is not a [type, ...] array"),
        ("[1, 2]", "message is not a [type, ...] array"),
        ('["push"]', "unknown or malformed message"),
        ('["pull", "1"]', "unknown or malformed message"),
        ('["pull", true]', "unknown or malformed message"),
        ('["pull", 7]', "no such entry on the exports table"),
        ('["release", 0, 0]', "release count does not match the export's references"),
        ('["hello"]', "unknown or malformed message"),
        ('["push", ["frobnicate", 1]]', "unknown special value"),
        ('["push", []]', "unknown special value"),
        ('["push", ["pipeline", 9, ["x"], []]]', "no such entry on the exports table"),
        ('["push", ["pipeline", 0, "x", []]]', "malformed pipeline path"),
        ('["push", ["pipeline", 0, ["x"], {}]]', "malformed pipeline arguments"),
        ('["push", ["export", 3]]', "exported ids must be negative"),
        ('["push", ["date", "tomorrow"]]', "malformed date expression"),
        ('["reject", 0, ["export", -1]]', "'export' is not allowed here"),
    ],
)
async def test_malformed_input_aborts_the_session(message, reason):
    peer = Peer(Api())
    await peer.feed(message)
    assert peer.session.closed
    assert peer.sent == [abort_message(reason)]


async def test_invalid_utf8_bytes_abort():
    peer = Peer(Api())
    await peer.session.feed(b"\xff\xfe[")
    assert peer.sent == [abort_message("message is not UTF-8")]


async def test_remap_is_rejected_and_its_captures_released():
    peer = Peer(Api())
    await peer.feed(
        ["push", ["remap", 0, ["tags"], [["export", -1]], [["pipeline", 0, ["echo"], [1]]]]],
        ["pull", 1],
    )
    assert await peer.settle() == [
        ["release", -1, 1],
        ["reject", 1, ["error", "TypeError", "'remap' values are not supported by this server"]],
    ]
    # The session goes on; the failed push kept its id.
    await peer.feed(["push", ["pipeline", 0, ["add"], [2, 3]]], ["pull", 2])
    assert await peer.settle() == [["resolve", 2, 5]]


async def test_streams_and_pipes_are_rejected_but_keep_the_numbering():
    peer = Peer(Api())
    error = ["error", "TypeError", "Streams are not supported by this server."]
    await peer.feed(["stream", ["pipeline", 0, ["add"], [1, 2]]])
    assert await peer.settle() == [["reject", 1, error]]
    await peer.feed(["pipe"], ["push", ["pipeline", 2, ["write"], ["x"]]], ["pull", 3])
    assert await peer.settle() == [["reject", 3, error]]
    await peer.feed(["release", 2, 1], ["push", ["pipeline", 0, ["add"], [1, 2]]], ["pull", 4])
    assert await peer.settle() == [["resolve", 4, 3]]


async def test_unsupported_values_reject_only_their_push():
    peer = Peer(Api())
    await peer.feed(
        ["push", ["pipeline", 0, ["echo"], [["url", "https://example.com/"]]]],
        ["push", ["pipeline", 0, ["echo"], [["bytes", "AQID"]]]],
        ["pull", 1],
        ["pull", 2],
    )
    assert await peer.settle() == [
        ["reject", 1, ["error", "TypeError", "'url' values are not supported by this server"]],
        ["resolve", 2, ["bytes", "AQID"]],
    ]


async def test_message_size_is_checked_before_parsing():
    peer = Peer(Api(), Limits(max_message_bytes=100))
    await peer.feed(json.dumps(["push", ["pipeline", 0, ["echo"], ["x" * 100]]]))
    assert peer.sent == [abort_message("message larger than 100 bytes")]
    # Bytes, not characters: 30 three-byte characters are 90 bytes plus the frame.
    peer = Peer(Api(), Limits(max_message_bytes=100))
    await peer.feed('["push", "' + "€" * 30 + '"]')
    assert peer.sent == [abort_message("message larger than 100 bytes")]


async def test_nesting_depth_is_limited():
    peer = Peer(Api(), Limits(max_depth=8))
    deep: object = 1
    for _ in range(10):
        deep = {"a": deep}
    await peer.feed(["push", ["pipeline", 0, ["echo"], [deep]]])
    assert peer.sent == [abort_message("message nesting exceeds 8 levels")]
    peer = Peer(Api())
    await peer.feed("[" * 100_000 + "]" * 100_000)
    assert peer.sent == [abort_message("message is not JSON")]


async def test_outstanding_calls_beyond_the_limit_are_rejected():
    api = Api()
    peer = Peer(api, Limits(max_outstanding_calls=2))
    await peer.feed(*[["push", ["pipeline", 0, ["wait"], []]] for _ in range(3)])
    await peer.feed(["pull", 1], ["pull", 2], ["pull", 3])
    assert await peer.next() == ["reject", 3, ["error", "Error", "Too many outstanding calls."]]
    assert peer.session.stats()["outstanding_calls"] == 2
    api.gate.set()
    assert sorted(await peer.settle()) == [["resolve", 1, "released"], ["resolve", 2, "released"]]
    await peer.feed(["push", ["pipeline", 0, ["wait"], []]], ["pull", 4])
    assert await peer.settle() == [["resolve", 4, "released"]]


async def test_unreleased_results_beyond_the_export_limit_abort():
    peer = Peer(Api(), Limits(max_exports=3))
    await peer.feed(*[["push", ["pipeline", 0, ["add"], [1, 1]]] for _ in range(3)])
    assert peer.sent == [abort_message("too many exports (unreleased results)")]
    assert peer.session.closed


async def test_stubs_beyond_the_import_limit_abort():
    peer = Peer(Api(), Limits(max_imports=3))
    await peer.feed(["push", [[["export", -1], ["export", -2], ["export", -3]]]])
    assert peer.sent == [abort_message("too many imports (stubs passed to us)")]


async def test_exports_beyond_the_limit_reject_the_result():
    api = Api()
    # Room for main, two results and one exported object.
    peer = Peer(api, Limits(max_exports=4))
    await peer.feed(["push", ["pipeline", 0, ["session"], []]], ["pull", 1])
    assert await peer.settle() == [
        ["resolve", 1, {"profile": ["export", -1], "tags": [["a", "b"]]}]
    ]
    await peer.feed(["push", ["pipeline", 0, ["session"], []]], ["pull", 2])
    assert await peer.settle() == [
        ["reject", 2, ["error", "TypeError", "Too many objects exported on this session."]]
    ]


async def test_a_stub_returned_by_the_call_lives_as_long_as_the_result():
    peer = Peer(Api())
    await peer.feed(["push", ["pipeline", 0, ["echo"], [["export", -1]]]], ["pull", 1])
    # Sent back as the client's own export: no release yet, it is still referenced.
    assert await peer.settle() == [["resolve", 1, ["import", -1]]]
    await peer.feed(["release", 1, 1])
    assert await peer.settle() == [["release", -1, 1]]
    assert peer.session.stats() == {"exports": 1, "imports": 1, "outstanding_calls": 0}
