"""Finding arithmetic in everyday phrasing, written in the calculator's expression syntax.

"What's 15% of 240?", "square root of 144", "5 plus 3", "2 to the power of 8", "1,200 x 3"
and "√2" become ``15% * 240``, ``sqrt(144)``, ``5 + 3``, ``2^8``, ``1200 * 3`` and
``sqrt(2)``: the syntax the calculator tool reads (common/arithmetic.py). The text is
rewritten phrase by phrase, remembering where in the original each character came from, so
a calculation keeps its place among the other requests of the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from common.arithmetic import ExpressionError, expression_is_calculation, expression_parse

# Longer runs of digits and operators are not taken for arithmetic (nor parsed).
MAX_EXPRESSION_CHARS = 1000

_NUMBER = r"\d+(?:\.\d+)?"
_Replacement = str | Callable[[re.Match[str]], str]

# In order: each rule reads the text the rules before it wrote.
_RULES: list[tuple[re.Pattern[str], _Replacement]] = [
    # The multiplication sign, two multiplication x, the division sign, the minus sign.
    (re.compile("[\u00d7\u2715\u2716]"), "*"),
    (re.compile("\u00f7"), "/"),
    (re.compile("\u2212"), "-"),
    # 1,200,000 -> 1200000 (groups of exactly three digits only).
    (
        re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])"),
        lambda match: match.group().replace(",", ""),
    ),
    (re.compile(rf"√\s*({_NUMBER})"), r"sqrt(\1)"),
    (re.compile(r"√\s*(?=\()"), "sqrt"),
    (
        re.compile(rf"\b(?:the\s+)?(?:square\s+root|sqrt)\s+(?:of\s+)?({_NUMBER})", re.I),
        r"sqrt(\1)",
    ),
    (re.compile(r"\b(?:the\s+)?(?:square\s+root|sqrt)\s*(?:of\s*)?(?=\()", re.I), "sqrt"),
    (re.compile(r"(\d)\s*(?:percent|per\s+cent|pct)\b", re.I), r"\1%"),
    (re.compile(r"%\s*of\b", re.I), "% *"),
    (re.compile(r"\s*\bsquared\b", re.I), "^2"),
    (re.compile(r"\s*\bcubed\b", re.I), "^3"),
    (re.compile(r"\s*\b(?:raised\s+)?to\s+the\s+power\s+(?:of\s+)?", re.I), "^"),
    (re.compile(r"\s*\braised\s+to\s+", re.I), "^"),
    (re.compile(r"\bplus\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
    (re.compile(r"\b(?:times|multiplied\s+by)\b", re.I), "*"),
    (re.compile(r"\bdivided\s+by\b", re.I), "/"),
    (re.compile(r"\b(?:mod|modulo)\b", re.I), "%"),
    # "3 x 4": an x between numbers, with spaces (0x1F stays what it is).
    (re.compile(r"(?<=\d)(\s+)[xX](\s+)(?=[\d(])"), r"\1*\2"),
]
_RUN = re.compile(r"(?:sqrt|[0-9+\-*/%().^ \t])+")


@dataclass(frozen=True)
class _Rewritten:
    """Text after some rewriting, and where in the original text each of its characters was."""

    text: str
    origin: list[int]


def _substitute(source: _Rewritten, pattern: re.Pattern[str], replace: _Replacement) -> _Rewritten:
    pieces: list[str] = []
    origin: list[int] = []
    last = 0
    for match in pattern.finditer(source.text):
        new = replace(match) if callable(replace) else match.expand(replace)
        pieces += [source.text[last : match.start()], new]
        origin += source.origin[last : match.start()]
        origin += [source.origin[match.start()]] * len(new)
        last = match.end()
    if not pieces:
        return source
    pieces.append(source.text[last:])
    origin += source.origin[last:]
    return _Rewritten("".join(pieces), origin)


def _trimmed(candidate: str) -> str:
    """Drop what cannot end or start an expression: dangling operators and parentheses."""
    expression = candidate.strip()
    changed = True
    while expression and changed:
        before = expression
        expression = expression.rstrip(".+-*/^( \t").lstrip(") \t")
        # A % after a number is a percentage; any other % at the end is left over.
        if expression.endswith("%") and not expression[:-1].rstrip()[-1:].isdigit():
            expression = expression[:-1]
        if expression.endswith(")") and expression.count(")") > expression.count("("):
            expression = expression[:-1]
        if expression.startswith("(") and expression.count("(") > expression.count(")"):
            expression = expression[1:]
        changed = expression != before
    return expression


def _calculation(candidate: str) -> str | None:
    """Return the candidate trimmed to an expression that calculates something, or None."""
    expression = _trimmed(candidate)
    if len(expression) > MAX_EXPRESSION_CHARS or not any(char.isdigit() for char in expression):
        return None
    try:
        tree = expression_parse(expression)
    except ExpressionError:
        return None
    return expression if expression_is_calculation(tree) else None


def _calculations(text: str) -> list[tuple[int, str]]:
    """Return each calculation in the text, in calculator syntax, with where it starts."""
    rewritten = _Rewritten(text, list(range(len(text))))
    for pattern, replace in _RULES:
        rewritten = _substitute(rewritten, pattern, replace)
    found = []
    for match in _RUN.finditer(rewritten.text):
        expression = _calculation(match.group())
        if expression is not None:
            offset = max(match.group().find(expression), 0)
            found.append((rewritten.origin[match.start() + offset], expression))
    return found
