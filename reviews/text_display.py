"""Texts as a moderator must see them: every character that shows nothing, or that changes the
direction of what follows, written out as a visible marker instead of being rendered.

A review can hold a RIGHT-TO-LEFT OVERRIDE that makes "bad" read "dab", zero-width spaces that
split a word for the eye but not for a filter, a no-break space that looks like a space. Shown
raw, a moderator approves what they did not read; `reveal` shows them what is there.

What is revealed:
- format characters (category Cf): zero-width space and joiners, the bidi embeddings, overrides
  and isolates (U+202A-202E, U+2066-2069), the direction marks (U+200E/F, U+061C), the soft
  hyphen, the byte-order mark, the tag characters...;
- control characters (Cc) other than tab and newline (a carriage return before a newline is
  part of the newline);
- spaces other than the plain space (Zs, e.g. the no-break space U+00A0), line and paragraph
  separators (Zl, Zp);
- characters that are blank without being spaces (the Hangul fillers, the braille blank, the
  combining grapheme joiner, variation selectors), and private-use, surrogate or unassigned
  code points, which render as nothing or as the font pleases.
"""

from __future__ import annotations

import unicodedata

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from modeling.cleaning import clean_text

_CATEGORIES = {"Cf", "Cc", "Zl", "Zp", "Co", "Cs", "Cn"}
# Blank or invisible in most fonts, though not in the categories above.
_BLANK = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x2800, 0x3164, 0xFFA0}
_BLANK_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))  # variation selectors
_KEPT = {"\n", "\t", " "}
# unicodedata has no names for control characters; these are their usual names (aliases).
_CONTROL_NAMES = {
    0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x0B: "LINE TABULATION", 0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x1C: "FILE SEPARATOR", 0x1D: "GROUP SEPARATOR",
    0x1E: "RECORD SEPARATOR", 0x1F: "UNIT SEPARATOR", 0x7F: "DELETE", 0x85: "NEXT LINE",
}
_OPEN, _CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧


def is_hidden(ch: str) -> bool:
    """Whether `ch` shows nothing (or something else than it is) when rendered as it is."""
    if ch in _KEPT:
        return False
    code = ord(ch)
    if code in _BLANK or any(low <= code <= high for low, high in _BLANK_RANGES):
        return True
    category = unicodedata.category(ch)
    return category in _CATEGORIES or category == "Zs"


def character_name(ch: str) -> str:
    """The Unicode name of `ch`, with a name for control characters and a fallback for the rest."""
    name = unicodedata.name(ch, "")
    if name:
        return name
    code = ord(ch)
    if code in _CONTROL_NAMES:
        return _CONTROL_NAMES[code]
    category = unicodedata.category(ch)
    return {"Cc": "CONTROL CHARACTER", "Co": "PRIVATE USE CHARACTER", "Cs": "SURROGATE",
            "Cn": "UNASSIGNED CODE POINT"}.get(category, f"UNNAMED CHARACTER ({category})")


def code_point(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def _label(ch: str) -> str:
    return f"{code_point(ch)} {character_name(ch)}"


def _pieces(text: str):
    """`text` as (piece, hidden) pairs: runs of shown characters, and each hidden one alone."""
    run = []
    for i, ch in enumerate(text):
        hidden = is_hidden(ch) and not (ch == "\r" and text[i + 1 : i + 2] == "\n")
        if hidden:
            if run:
                yield "".join(run), False
                run = []
            yield ch, True
        else:
            run.append(ch)
    if run:
        yield "".join(run), False


def reveal(text: str) -> SafeString:
    """`text`, HTML-escaped, with every hidden character made a marked, visible span:
    ``<span class="reveal" title="U+202E RIGHT-TO-LEFT OVERRIDE">⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧</span>``."""
    out = []
    for piece, hidden in _pieces(text or ""):
        if hidden:
            label = escape(_label(piece))
            out.append(f'<span class="reveal" title="{label}">{_OPEN}{label}{_CLOSE}</span>')
        else:
            out.append(escape(piece))
    return mark_safe("".join(out))


def visible_text(text: str) -> str:
    """`text` with the same markers as `reveal`, as plain (unescaped) text: for the API."""
    return "".join(f"{_OPEN}{_label(piece)}{_CLOSE}" if hidden else piece for piece, hidden in _pieces(text or ""))


def invisible_characters(text: str) -> list[dict]:
    """The hidden characters of `text`, in order of first appearance:
    ``[{"code_point": "U+200B", "name": "ZERO WIDTH SPACE", "count": 2}, ...]``."""
    found: dict[str, dict] = {}
    for piece, hidden in _pieces(text or ""):
        if hidden:
            entry = found.setdefault(piece, {"code_point": code_point(piece), "name": character_name(piece), "count": 0})
            entry["count"] += 1
    return list(found.values())


def invisible_summary(text_or_characters) -> str:
    """E.g. "3 invisible characters: U+200B ×2, U+202E" ("" when there are none)."""
    characters = (invisible_characters(text_or_characters) if isinstance(text_or_characters, str)
                  else text_or_characters)
    total = sum(c["count"] for c in characters)
    if not total:
        return ""
    listed = ", ".join(c["code_point"] + (f" ×{c['count']}" if c["count"] > 1 else "") for c in characters)
    return f"{total} invisible character{'s' if total != 1 else ''}: {listed}"


def model_reads(text: str) -> str:
    """The text as the model reads it (modeling.cleaning.clean_text: tags removed, entities
    decoded, whitespace collapsed): what a moderator approves for training."""
    return clean_text(text or "")
