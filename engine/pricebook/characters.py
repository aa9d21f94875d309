"""Which characters a pricebook's identifiers, codes, currency and list values may hold, and how to
name the one that is wrong.

Rule ids, case ids and pricebook ids use engine.bounds.IDENTIFIER (ASCII letters and digits, then
'.', '_' or '-'); package, promo and bundle codes use the same alphabet, upper-cased, at most
CODE_MAX characters. So a Cyrillic 'М' cannot make a second 'SMS-1' that reads the same: it is a
finding whose hint names the character ("U+041C CYRILLIC CAPITAL LETTER EM, which looks like M").

Free text (titles, notes, list values such as cities) may be in any script, but never holds
control characters, lone surrogates or bidirectional controls (engine.bounds.check_text), nor
invisible format characters; a list value that mixes Latin letters with Cyrillic or Greek
look-alikes ('Мumbai') is refused too, since it would be a second city that reads like the first.

Currency codes come from ISO 4217: the table below holds the active codes of currencies that
clinics pay in (funds, precious metals and testing codes such as XAU or XTS are left out). It is
kept here rather than read from babel so that validation does not depend on a locale library's
release; add a code when ISO adds one.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from engine.bounds import CODE_MAX, IDENTIFIER, check_text
from engine.errors import InvalidInput

_ISO_4217_CODES: Final = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
    KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN
    NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP
    SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217: Final = frozenset(_ISO_4217_CODES.split())

#: letters of other scripts that read as Latin ones (Unicode's confusables for the Latin alphabet,
#: Cyrillic and Greek); fullwidth forms and the like are found through NFKC instead
_LOOK_ALIKES: Final = dict(
    zip(
        "АВЕКМНОРСТХЅІЈаеорсухѕіјԁһӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧοντ",
        "ABEKMHOPCTXSIJaeopcyxsijdhlABEZHIKMNOPTYXovt",
        strict=True,
    )
)
#: bidirectional formatting classes (engine.bounds refuses the same in stored text)
_BIDI_CONTROLS: Final = frozenset({"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"})


def describe(char: str) -> str:
    """'U+041C CYRILLIC CAPITAL LETTER EM', 'U+202E RIGHT-TO-LEFT OVERRIDE (a bidirectional
    control)', 'U+0000 (a control character)'."""
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if category == "Cc":
        return f"{code} (a control character)"
    if category == "Cs":
        return f"{code} (half of a surrogate pair, not a character)"
    name = f"{code} {unicodedata.name(char, 'an unnamed character')}"
    if unicodedata.bidirectional(char) in _BIDI_CONTROLS or char in "\u200e\u200f\u061c":
        return f"{name} (a bidirectional control, which makes text read differently from what it holds)"
    if category == "Cf":
        return f"{name} (an invisible character)"
    return name


def looks_like(char: str) -> str | None:
    """The ASCII character `char` reads as, if it reads as one."""
    if char in _LOOK_ALIKES:
        return _LOOK_ALIKES[char]
    folded = unicodedata.normalize("NFKC", char)
    return folded if folded.isascii() and folded != char and len(folded) == 1 else None


def _explained(char: str) -> str:
    ascii_twin = looks_like(char)
    twin = f", which looks like {ascii_twin!r}" if ascii_twin else ""
    return f"{describe(char)}{twin}"


def _outside_alphabet(text: str) -> str | None:
    """The first character of `text` that an identifier may not hold."""
    for index, char in enumerate(text):
        if not IDENTIFIER.fullmatch(("a" if index else "") + char):
            return char
    return None


def identifier_problem(text: str, what: str, limit: int, noun: str = "Ids") -> tuple[str, str] | None:
    """Why `text` is not an identifier (message, hint), or None when it is one."""
    if len(text) <= limit and IDENTIFIER.fullmatch(text):
        return None
    if len(text) > limit:
        return (
            f"{what} is {len(text):,} characters long; at most {limit} are allowed.",
            "Use a short id such as SMS-1 or LP-014." if noun == "Ids" else "Use a short code such as SOLO-SMS.",
        )
    char = _outside_alphabet(text)
    if char is None:  # empty
        return f"{what} is empty.", "Type an id such as SMS-1."
    if char.isascii() and char.isprintable():
        where = "start with" if text.startswith(char) else "contain"
        return (
            f"{what} cannot {where} {char!r}.",
            f"{noun} use only ASCII letters, digits, '.', '_' and '-', and start with a letter or a digit.",
        )
    return (
        f"{what} contains {_explained(char)}.",
        f"{noun} use only ASCII letters, digits, '.', '_' and '-': retype it on an English keyboard.",
    )


def code_problem(text: str, what: str) -> tuple[str, str] | None:
    """Why `text` is not a package, promo or bundle code (message, hint), or None."""
    return identifier_problem(text, what, CODE_MAX, "Codes")


def text_problem(text: str, what: str, limit: int, *, multiline: bool = False) -> tuple[str, str] | None:
    """Why `text` cannot be stored and shown as it reads (message, hint), or None: too long, or a
    control, surrogate, bidirectional or invisible character."""
    try:
        check_text(what, text, limit, required=False, multiline=multiline)
    except InvalidInput:
        if len(text) > limit:
            return f"{what} is {len(text):,} characters long; at most {limit:,} are allowed.", "Shorten it."
        allowed = "\n\t" if multiline else ""
        char = next((c for c in text if not c.isprintable() and c != " " and c not in allowed), "\x00")
        return f"{what} contains {describe(char)}.", _RETYPE
    invisible = next((c for c in text if unicodedata.category(c) == "Cf"), None)
    if invisible is not None:
        return f"{what} contains {describe(invisible)}.", _RETYPE
    return None


def mixed_script_problem(text: str, what: str) -> tuple[str, str] | None:
    """A value that mixes Latin letters with look-alikes from another script ('Мumbai')."""
    if text.isascii():
        return None
    twins = [c for c in text if c in _LOOK_ALIKES or looks_like(c)]
    if twins and any(c.isascii() and c.isalpha() for c in text):
        return f"{what} {text!r} mixes Latin letters with {_explained(twins[0])}.", _RETYPE
    return None


def currency_problem(text: str) -> tuple[str, str] | None:
    """Why `text` is not an ISO 4217 code of a currency clinics pay in, or None."""
    if text.upper() in ISO_4217:
        return None
    odd = next((c for c in text if not ("A" <= c.upper() <= "Z" and c.isascii())), None)
    if odd is not None and not (odd.isascii() and odd.isprintable()):
        return f"The currency code contains {_explained(odd)}.", "Type the three ASCII letters, e.g. USD or INR."
    return (
        f"{text[:20]!r} is not an ISO 4217 currency code.",
        "Use the three-letter code of the currency clinics pay in, e.g. USD or INR.",
    )


_RETYPE = "Retype the text: it was probably pasted from a document that carries hidden characters."
