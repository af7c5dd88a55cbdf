"""Summarising text the user gives ("summarize this: ..."): an extractive summary.

Nothing is written anew: the summary is the sentences whose words occur most often in the
whole text (leaving out words such as "the" and "of"), given in their original order. It is
deterministic and needs no network, and it is only as good as that rule.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from assistant.offline.reading import _brief

SUMMARY_MAX_SENTENCES = 5
SUMMARY_OUTPUT_CHARS = 2000

# The request must open the message: "summarize this: ...", "summarise: ...", "tl;dr ...",
# "please sum up the following text - ...". What follows the colon is the text.
_REQUEST = re.compile(
    r"\A\s*(?:(?:please|can\s+you|could\s+you|would\s+you)\s+)?"
    r"(?:summari[sz]e|sum\s+up|give\s+me\s+a\s+summary\s+of|tl;?\s*dr)\b"
    r"(?:\s+(?:this|that|it|for\s+me|please|the\s+following(?:\s+text)?))*"
    r"\s*[:\-\u2013\u2014,.?]*\s*(?P<text>.*)\Z",
    re.IGNORECASE | re.DOTALL,
)
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_BULLET = re.compile(r"\n(?=[ \t]*(?:[-*\u2022]|\d+[.)])[ \t])")
# A sentence ends at . ! ? or an ellipsis (and any closing quote or bracket), before
# whitespace and a capital, a digit or an opening quote: "e.g. the" does not end one.
_SENTENCE_END = re.compile(
    r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[A-Z0-9])"
)
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
# Words that say little about what a text is about.
_COMMON_WORDS = """a about above after again against all also am an and any are as at be because
    been     before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just may me might more most must my myself no nor not now of off on
    once only or other our ours ourselves out over own same shall she should so some such than
    that the their theirs them themselves then there these they this those through to too
    under until up us very was we were what when where which while who whom why will with
    would you your yours yourself yourselves"""
_STOP_WORDS = frozenset(_COMMON_WORDS.split())


def _sentences(text: str) -> list[str]:
    """Split text into sentences; lines of a paragraph are joined, list items kept apart."""
    sentences = []
    for paragraph in _PARAGRAPH.split(text):
        for item in _BULLET.split(paragraph):
            flat = " ".join(item.split())
            sentences += [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]
    return sentences


def _content_words(sentence: str) -> list[str]:
    words = (word.lower().replace("\u2019", "'") for word in _WORD.findall(sentence))
    return [word for word in words if word not in _STOP_WORDS and len(word) > 1]


def _summary_of(text: str) -> str:
    """Return an extractive summary of the text, saying how it was made."""
    sentences = _sentences(text)
    if not sentences:
        return (
            'Give me the text to summarize after the request, as in "summarize: <text>". '
            "I can summarize only text in the message itself."
        )
    if len(sentences) == 1:
        return _brief(f"That is a single sentence already: {sentences[0]}", SUMMARY_OUTPUT_CHARS)
    words = [_content_words(sentence) for sentence in sentences]
    frequency = Counter(word for sentence in words for word in sentence)
    top = max(frequency.values(), default=1)

    def score(index: int) -> float:
        # Long sentences hold more words, but are not worth proportionally more.
        if not words[index]:
            return 0.0
        return sum(frequency[word] / top for word in words[index]) / math.sqrt(len(words[index]))

    keep = min(SUMMARY_MAX_SENTENCES, math.ceil(len(sentences) / 3))
    best = sorted(range(len(sentences)), key=lambda index: (-score(index), index))[:keep]
    chosen = " ".join(sentences[index] for index in sorted(best))
    heading = f"Summary ({keep} of {len(sentences)} sentences, picked by word frequency):"
    return f"{heading}\n{_brief(chosen, SUMMARY_OUTPUT_CHARS)}"


def _summary_request(text: str) -> str | None:
    """Return the summary a "summarize: <text>" message asks for, or None for other text."""
    match = _REQUEST.match(text)
    return _summary_of(match.group("text")) if match else None
