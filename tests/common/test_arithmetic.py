"""Everyday arithmetic: what counts as a calculation, and how % is read.

The values and refusals of whole expressions are tested through the calculator tool
(tests/tools/test_builtins.py), which is all this module serves.
"""

from __future__ import annotations

import pytest

from common.arithmetic import (
    ExpressionError,
    expression_evaluate,
    expression_is_calculation,
    expression_parse,
)


@pytest.mark.parametrize(
    ("expression", "calculates"),
    [
        ("2+2", True),
        ("sqrt(9)", True),
        ("15% * 240", True),
        ("2^10", True),
        ("42", False),
        ("-42", False),
        ("100%", False),  # "I am 100% sure" asks for nothing
        ("(7)", False),
    ],
)
def test_what_calculates(expression, calculates):
    assert expression_is_calculation(expression_parse(expression)) is calculates


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("10 % 3", 1),  # a number follows: the remainder
        ("10 % (3)", 1),
        ("10 % .5", 0),
        ("10%", 0.1),  # nothing follows: a percentage
        ("10% * 3", 0.3),
        ("(10%)", 0.1),
        ("50 - 10%", 45),  # a share of what comes before
        ("50 * 10% + 1", 6),
        ("2 * (50 + 10%)", 110),
    ],
)
def test_percent_or_remainder(expression, value):
    assert expression_evaluate(expression) == value


def test_a_name_that_is_no_function_is_refused_before_anything_runs():
    for expression in ("sqrt.__class__", "sqrt(sqrt)", "(lambda: 1)()", "open('x')"):
        with pytest.raises(ExpressionError, match="unsupported in an arithmetic expression"):
            expression_parse(expression)
