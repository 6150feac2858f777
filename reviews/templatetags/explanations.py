"""Rendering an explanation: the review text with its explaining words highlighted.

Every piece of the review is escaped; only our own <mark> tags are markup, so a review holding
HTML or a script is shown as text, never run.
"""

from django import template
from django.utils.html import escape, format_html, mark_safe

register = template.Library()


def segments(text: str, words: list[dict]) -> list[tuple[str, dict | None]]:
    """The text cut into (piece, word-or-None) in order, one piece per highlighted occurrence."""
    marks = sorted(((start, end, w) for w in words for start, end in w["spans"]), key=lambda m: m[0])
    out, cursor = [], 0
    for start, end, word in marks:
        if start < cursor or end > len(text):
            continue  # spans never overlap for LIME's words; guard against a stale result
        if start > cursor:
            out.append((text[cursor:start], None))
        out.append((text[start:end], word))
        cursor = end
    if cursor < len(text):
        out.append((text[cursor:], None))
    return out


@register.simple_tag
def highlighted(text: str, result: dict | None):
    if not result or not result.get("words"):
        return escape(text)
    words = result["words"]
    strongest = max(abs(w["weight"]) for w in words) or 1.0
    html = []
    for piece, word in segments(text, words):
        if word is None:
            html.append(escape(piece))
            continue
        weight = word["weight"]
        strength = 0.25 + 0.75 * abs(weight) / strongest
        direction = "pos" if weight > 0 else "neg"
        html.append(
            format_html(
                '<mark class="w-{}" style="--strength: {}" title="{}{} towards positive">{}<span class="sign" aria-hidden="true">{}</span></mark>',
                direction, f"{strength:.2f}", "+" if weight > 0 else "−", f"{abs(weight):.3f}", piece, "+" if weight > 0 else "−",
            )
        )
    return mark_safe("".join(str(h) for h in html))


@register.filter
def abs_value(value):
    try:
        return abs(value)
    except TypeError:
        return value
