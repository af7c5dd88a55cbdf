"""Value encodings of protocol.md "Expressions", both directions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from capnweb.errors import DecodeError, ProtocolError, RpcError
from capnweb.serialize import UNDEFINED, Devaluator, Evaluator


def devaluate(value):
    return Devaluator().devaluate(value)


def evaluate(expression):
    return Evaluator().evaluate(expression)


def test_plain_values_pass_through_and_arrays_are_escaped():
    value = {"key": ["abc", 1, 2.5, True, None, [0]]}
    assert devaluate(value) == {"key": [["abc", 1, 2.5, True, None, [[0]]]]}
    assert evaluate(devaluate(value)) == value
    assert devaluate(("a",)) == [["a"]]
    assert devaluate([]) == [[]]


def test_protocol_example_of_an_object_holding_an_array():
    expression = {"key": [["abc", ["date", 1757214689123], [[0]]]]}
    assert evaluate(expression) == {
        "key": ["abc", datetime(2025, 9, 7, 3, 11, 29, 123000, tzinfo=UTC), [0]]
    }


def test_dates_are_milliseconds_since_the_epoch():
    moment = datetime(2025, 6, 8, 0, 22, 50, 815000, tzinfo=UTC)
    assert devaluate(moment) == ["date", 1749342170815]
    assert evaluate(["date", 1749342170815]) == moment
    east = moment.astimezone(timezone(timedelta(hours=2)))
    assert devaluate(east) == ["date", 1749342170815]
    assert evaluate(["date", None]) is None


def test_naive_datetimes_are_refused():
    with pytest.raises(TypeError, match="naive datetime"):
        devaluate(datetime(2025, 1, 1))


def test_bytes_are_unpadded_base64():
    assert devaluate(b"\x01\x02\x03\x04") == ["bytes", "AQIDBA"]
    assert evaluate(["bytes", "AQIDBA"]) == b"\x01\x02\x03\x04"
    assert evaluate(["bytes", "AQIDBA=="]) == b"\x01\x02\x03\x04"
    assert evaluate(["bytes", "AQID", "ArrayBuffer"]) == b"\x01\x02\x03"
    with pytest.raises(DecodeError, match="Float64Array"):
        evaluate(["bytes", "AAAAAAAAAAA", "Float64Array"])
    with pytest.raises(DecodeError, match="base64"):
        evaluate(["bytes", "!!!"])


def test_undefined_and_non_finite_numbers():
    assert devaluate(UNDEFINED) == ["undefined"]
    assert evaluate(["undefined"]) is UNDEFINED
    # An undefined property is an absent key; an undefined element is null.
    assert evaluate({"a": ["undefined"], "b": 1}) == {"b": 1}
    assert evaluate([[["undefined"], 1]]) == [None, 1]
    assert devaluate([math.inf, -math.inf]) == [[["inf"], ["-inf"]]]
    assert devaluate(math.nan) == ["nan"]
    assert math.isnan(evaluate(["nan"]))
    assert evaluate(["-inf"]) == -math.inf


def test_large_integers_travel_as_bigint():
    assert devaluate(2**53 - 1) == 2**53 - 1
    assert devaluate(2**64) == ["bigint", "18446744073709551616"]
    assert evaluate(["bigint", "-18446744073709551616"]) == -(2**64)
    with pytest.raises(DecodeError):
        evaluate(["bigint", "9" * 1001])
    with pytest.raises(DecodeError):
        evaluate(["bigint", "12a"])


def test_errors_carry_name_and_message_never_a_stack():
    assert devaluate(RpcError("TypeError", "bad")) == ["error", "TypeError", "bad"]
    with_props = RpcError("Error", "not found", {"code": -32001})
    assert devaluate(with_props) == ["error", "Error", "not found", None, {"code": -32001}]
    assert evaluate(["error", "RangeError", "too big", "at foo (x.js:1)"]) == RpcError(
        "RangeError", "too big"
    )
    assert evaluate(["error", "Error", "x", None, {"code": 5}]) == RpcError(
        "Error", "x", {"code": 5}
    )


def test_unexpected_exceptions_hide_their_message(caplog):
    assert devaluate(ValueError("password=hunter2")) == ["error", "Error", "Internal error"]
    assert "hunter2" not in str(devaluate([ValueError("hunter2")]))


def test_unsupported_values_are_refused_cleanly():
    with pytest.raises(TypeError, match="Cannot serialize a value of type set"):
        devaluate({1, 2})
    with pytest.raises(TypeError, match="non-string key"):
        devaluate({1: "a"})
    for kind in ("url", "headers", "blob", "readable", "writable", "remap", "request"):
        with pytest.raises(DecodeError, match=f"'{kind}' values are not supported"):
            evaluate([kind, "x"])


def test_malformed_or_unknown_expressions_are_protocol_errors():
    for expression in ([], ["nope"], [1, 2], ["date", "soon"], ["error", 1, "x"], ["bytes", 5]):
        with pytest.raises(ProtocolError):
            evaluate(expression)
    # Capability references need a session.
    with pytest.raises(ProtocolError):
        evaluate(["export", -1])


def test_depth_is_limited_both_ways():
    deep: object = 1
    for _ in range(70):
        deep = {"a": deep}
    with pytest.raises(ProtocolError, match="nesting"):
        evaluate(deep)
    with pytest.raises(TypeError, match="maximum depth"):
        devaluate(deep)
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="maximum depth"):
        devaluate(loop)
