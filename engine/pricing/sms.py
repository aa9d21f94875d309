"""SMS segments (docs/domain.md §2, docs/telecom.md §1).

GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table, else the
whole message is UCS-2. One segment holds 160 GSM-7 septets or 70 UTF-16 code units; a longer
message is split into segments of 153 / 67. Extension characters take two septets and are never
split across segments; neither is a surrogate pair; and we keep each whole grapheme (an emoji with
its skin tone, a flag, CR LF) in one segment, which never counts fewer segments than a carrier
bills. An empty body is 0 segments (and cannot be sent). Capacities come from the pricebook.

Smart encoding (off by default: it is not what we send unless the clinic turns it on) replaces
look-alike characters — curly quotes, dashes, odd spaces, accented letters outside GSM-7 — by
GSM-7 ones before counting.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import regex

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7 = GSM7_BASIC | GSM7_EXTENSION

SMART_REPLACEMENTS: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u02b9\u0060\u00b4", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u02ba", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\u00ad", "-"),
    **dict.fromkeys(
        "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t\u000b", " "
    ),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff", ""),
    "\u2026": "...",
    "\u2022": "-",
    "\u2039": "<",
    "\u203a": ">",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u2044": "/",
    "\u2215": "/",
    "\u00f7": "/",
    "\u00d7": "x",
    "\u00b7": ".",
    "\u2024": ".",
    "\u00e7": "Ç",
    "\u00c0": "A",
    "\u00c1": "A",
    "\u00c2": "A",
    "\u00c3": "A",
    "\u00c8": "E",
    "\u00ca": "E",
    "\u00cb": "E",
    "\u00cc": "I",
    "\u00cd": "I",
    "\u00ce": "I",
    "\u00cf": "I",
    "\u00d2": "O",
    "\u00d3": "O",
    "\u00d4": "O",
    "\u00d5": "O",
    "\u00d9": "U",
    "\u00da": "U",
    "\u00db": "U",
    "\u00e1": "a",
    "\u00e2": "a",
    "\u00e3": "a",
    "\u00ea": "e",
    "\u00eb": "e",
    "\u00ed": "i",
    "\u00ee": "i",
    "\u00ef": "i",
    "\u00f3": "o",
    "\u00f4": "o",
    "\u00f5": "o",
    "\u00fa": "u",
    "\u00fb": "u",
    "\u00fd": "y",
    "\u00ff": "y",
}
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True, slots=True)
class SegmentLimits:
    """Segment capacities (the pricebook's Meta may change them, e.g. 152/66 for some carriers)."""

    gsm7_single: int = 160
    gsm7_part: int = 153
    ucs2_single: int = 70
    ucs2_part: int = 67


DEFAULT_LIMITS = SegmentLimits()


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    characters: int  # code points of the body as sent
    unicode_characters: tuple[tuple[int, str], ...] = ()  # (position, char) that forced UCS-2
    smart_encoded: bool = False
    text: str = ""  # the body as counted (after smart encoding)


def smart_encode(text: str) -> str:
    """Replace look-alikes by GSM-7 characters; characters without a look-alike stay as they are."""
    out = []
    for ch in text:
        if ch in GSM7:
            out.append(ch)
        elif ch in SMART_REPLACEMENTS:
            out.append(SMART_REPLACEMENTS[ch])
        else:
            stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(stripped if stripped and all(c in GSM7 for c in stripped) else ch)
    return "".join(out)


def _atoms(text: str, weight: dict[str, int] | None) -> list[int]:
    """Sizes of the indivisible pieces of a message: graphemes, in septets or UTF-16 units."""
    sizes = []
    for grapheme in _GRAPHEME.findall(text):
        if weight is not None:
            sizes.append(sum(weight.get(ch, 2) for ch in grapheme))
        else:
            sizes.append(sum(2 if ord(ch) > 0xFFFF else 1 for ch in grapheme))
    return sizes


def _pack(sizes: list[int], part: int, unit_sizes: list[list[int]]) -> int:
    """Greedy packing of atoms into segments of `part` units; an atom larger than a segment (a very
    long emoji sequence) is split at its code points, as a carrier would."""
    segments, used = 1, 0
    for size, pieces in zip(sizes, unit_sizes, strict=True):
        for piece in [size] if size <= part else pieces:
            if used + piece > part:
                segments += 1
                used = 0
            used += piece
    return segments


_GSM_WEIGHT = {**dict.fromkeys(GSM7_BASIC, 1), **dict.fromkeys(GSM7_EXTENSION, 2)}


@functools.lru_cache(maxsize=4096)
def count_segments(text: str, smart_encoding: bool = False, limits: SegmentLimits = DEFAULT_LIMITS) -> SegmentCount:
    """Encoding and number of segments of one SMS body."""
    body = smart_encode(text) if smart_encoding else text
    if not body:
        return SegmentCount("GSM-7", 0, 0, 0, smart_encoded=smart_encoding, text=body)
    non_gsm = tuple((i, ch) for i, ch in enumerate(body) if ch not in GSM7)
    if not non_gsm:
        weight: dict[str, int] | None = _GSM_WEIGHT
        encoding, single, part = "GSM-7", limits.gsm7_single, limits.gsm7_part
    else:
        weight = None
        encoding, single, part = "UCS-2", limits.ucs2_single, limits.ucs2_part
    graphemes = _GRAPHEME.findall(body)
    sizes = _atoms(body, weight)
    total = sum(sizes)
    if total <= single:
        segments = 1
    else:
        if weight is not None:
            pieces = [[weight[ch] for ch in g] for g in graphemes]
        else:
            pieces = [[2 if ord(ch) > 0xFFFF else 1 for ch in g] for g in graphemes]
        segments = _pack(sizes, part, pieces)
    return SegmentCount(encoding, segments, total, len(body), non_gsm[:20], smart_encoding, body)
