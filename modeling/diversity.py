"""Near-duplicate texts, for a labelling queue that shows each thing once.

Two texts are near-duplicates when they share most of their word triples (Jaccard similarity of
word 3-shingles, on the text as the model reads it): a review pasted twice with a typo fixed, a
sentence with a different ending. Exact copies (one `cleaning.text_fingerprint`) always are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from modeling.cleaning import reading_form

_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = 3) -> frozenset[str]:
    """The text's word `size`-grams (its words, for a text shorter than that)."""
    words = _WORD.findall(reading_form(text))
    if len(words) < size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i:i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def collapse_near_duplicates(texts: Sequence[str], *, threshold: float, limit: int | None = None) -> list[list[int]]:
    """Greedy, in the given order (most wanted first): each text joins the first kept group whose
    leading text it resembles at `threshold` or more, else leads a group of its own. Returns the
    groups as index lists, leader first, at most `limit` groups (the rest of the texts are still
    grouped into them where they resemble one, so counts are right)."""
    leaders: list[tuple[int, frozenset]] = []
    groups: list[list[int]] = []
    for index, text in enumerate(texts):
        own = shingles(text)
        for position, (_, leading) in enumerate(leaders):
            if jaccard(own, leading) >= threshold:
                groups[position].append(index)
                break
        else:
            if limit is None or len(groups) < limit:
                leaders.append((index, own))
                groups.append([index])
    return groups
