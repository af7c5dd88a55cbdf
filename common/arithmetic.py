"""Everyday arithmetic, parsed with ``ast`` and evaluated node by node: never ``eval``.

The syntax is Python's arithmetic (numbers, ``+ - * / // % **``, unary signs, parentheses)
and what people type besides:

* ``^`` is a power, as on a calculator: ``2^10`` is ``2**10``;
* ``sqrt(x)`` is the square root;
* ``%`` right after a number is a percentage unless a number or ``(`` follows it, when it
  is the remainder as in Python (``10 % 3`` is 1). ``15%`` is 0.15, ``240 * 15%`` is 36,
  and after ``+`` or ``-`` a percentage is a share of what comes before, as on a pocket
  calculator: ``200 + 10%`` is 220, ``80 - 25%`` is 60.

Anything else (names, calls of other functions, attributes, strings, booleans) is refused
before anything is evaluated, and the sizes of exponents, integers and the text are bounded.
Results are rounded to 15 significant digits, so ``7% of 100`` is 7 and ``0.1 + 0.2`` is 0.3
rather than their binary floating-point neighbours.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any

MAX_EXPONENT = 1000
MAX_INT_BITS = 4096
SIGNIFICANT_DIGITS = 15

# What a percentage becomes before parsing: a call of this name (harmless if typed by hand).
_PERCENT_CALL = "percent__"
# A number followed by %, unless a number, a decimal point or ( follows: that % is the
# remainder. The number must not continue a name or another number (1e5%, x5%).
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)\s*%(?!\s*[\d.(])")

_BINARY: dict[type[ast.operator], Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Any] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = frozenset({"sqrt", _PERCENT_CALL})
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, *_BINARY, *_UNARY)


class ExpressionError(ValueError):
    """The text is not everyday arithmetic, or its value cannot be given."""


def expression_parse(expression: str) -> ast.Expression:
    """Parse everyday arithmetic into a checked tree, or raise ExpressionError saying why."""
    source = _PERCENT.sub(rf"{_PERCENT_CALL}(\1)", expression.strip()).replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"not an arithmetic expression: {expression!r}") from exc
    functions: set[int] = set()
    # ast.walk goes breadth first: a call is seen before the name of its function.
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
                raise ExpressionError("unsupported in an arithmetic expression: Call")
            if len(node.args) != 1 or node.keywords:
                raise ExpressionError(f"{node.func.id}() takes one number")
            functions.add(id(node.func))
        elif isinstance(node, ast.Name):
            if id(node) not in functions:
                raise ExpressionError("unsupported in an arithmetic expression: Name")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                raise ExpressionError("unsupported in an arithmetic expression: a boolean")
            if not isinstance(node.value, int | float):
                raise ExpressionError("unsupported in an arithmetic expression: Constant")
        elif not isinstance(node, _ALLOWED):
            raise ExpressionError(f"unsupported in an arithmetic expression: {type(node).__name__}")
    return tree


def expression_is_calculation(tree: ast.Expression) -> bool:
    """Whether the tree computes something: an operator or sqrt(), not a number ("100%")."""
    return any(
        isinstance(node, ast.BinOp) or (isinstance(node, ast.Call) and _percentage(node) is None)
        for node in ast.walk(tree)
    )


def expression_evaluate(expression: str) -> int | float:
    """Return the value of everyday arithmetic, or raise ExpressionError saying why not."""
    value = _evaluate(expression_parse(expression).body)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError("the result is not a finite number")
        # Binary floating point cannot hold 0.07 exactly; 15 digits hide the error it brings.
        value = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def _percentage(node: ast.AST) -> ast.Call | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node if node.func.id == _PERCENT_CALL else None
    return None


def _apply(op: ast.operator, left: int | float, right: int | float) -> int | float:
    if isinstance(op, ast.Pow) and abs(right) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {right} is larger than {MAX_EXPONENT}")
    try:
        value = _BINARY[type(op)](left, right)
    except ZeroDivisionError as exc:
        raise ExpressionError("division by zero") from exc
    except OverflowError as exc:
        raise ExpressionError("the result is too large") from exc
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ExpressionError("the result is too large")
    if isinstance(value, complex):
        raise ExpressionError("the result is not a real number")
    return value  # type: ignore[no-any-return]


def _call(name: str, argument: int | float) -> int | float:
    if name == _PERCENT_CALL:
        return argument / 100
    try:
        return math.sqrt(argument)
    except ValueError as exc:
        raise ExpressionError("the result is not a real number") from exc
    except OverflowError as exc:
        raise ExpressionError("the number is too large") from exc


def _evaluate(node: ast.expr) -> int | float:
    """Evaluate a node of a tree expression_parse checked."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand))  # type: ignore[no-any-return]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node.func.id, _evaluate(node.args[0]))
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left)
        percentage = _percentage(node.right)
        if isinstance(node.op, ast.Add | ast.Sub) and percentage is not None:
            # A pocket calculator's 200 + 10%: ten percent of the 200.
            share = _apply(ast.Mult(), left, _evaluate(percentage.args[0])) / 100
            return _apply(node.op, left, share)
        return _apply(node.op, left, _evaluate(node.right))
    raise ExpressionError(f"unsupported in an arithmetic expression: {type(node).__name__}")
