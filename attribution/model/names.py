"""The one check of a name that money is booked under: a tenant, a pool, an API key's tenant scope.

Tenants come from gateway label values, which whoever sends requests can choose; pools and key scopes are
typed by operators. A name is what finance reads on a bill and what a tenant key is bound to, so two
names that look the same must not be two names. :func:`canonical_name` returns the NFC form of a name
and refuses what a reader cannot see or tell apart:

- control characters (``Cc``), format characters (``Cf``: zero-width space and joiners, the bidirectional
  marks, embeddings, overrides and isolates, the BOM), line and paragraph separators, unassigned code
  points and surrogates, and the fillers and variation selectors that render as nothing;
- blanks other than the ASCII space, and blanks at either end;
- compatibility forms (NFKC differs from NFC): fullwidth letters and signs (U+FF41, U+FF1D),
  ligatures, superscripts, which display like another, plain name.

It stands alone (no imports of ours) so config, store, collectors and API all use this one function.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 200
#: Categories no name may hold: control, format, surrogate, private use, unassigned, line/paragraph sep.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: Characters that render as nothing but are letters or marks by category.
_INVISIBLE = frozenset(
    {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u180e", "\u17b4", "\u17b5"}
    | {chr(c) for c in range(0xFE00, 0xFE10)}
    | {chr(c) for c in range(0xE0100, 0xE01F0)}
)


class InvalidNameError(ValueError):
    """A name with a character a reader cannot see or tell apart; the message names it and the fix."""


def _refused(char: str) -> str | None:
    """Why ``char`` may not be part of a name, or None."""
    category = unicodedata.category(char)
    if category in _REFUSED_CATEGORIES or char in _INVISIBLE:
        return "an invisible, control or bidirectional character"
    if category == "Zs" and char != " ":
        return "a blank other than the ASCII space"
    return None


def canonical_name(name: str, what: str = "name") -> str:
    """``name`` in NFC, or :class:`InvalidNameError` naming the first character refused and where (not
    the name itself: an API answer must not echo a name a caller may not see)."""
    nfc = unicodedata.normalize("NFC", name)
    if not nfc or len(nfc) > MAX_NAME_CHARS:
        raise InvalidNameError(f"{what} must be 1 to {MAX_NAME_CHARS} characters, got {len(nfc)}")
    for i, char in enumerate(nfc):
        reason = _refused(char)
        if reason is not None:
            raise InvalidNameError(
                f"{what} holds {reason} (U+{ord(char):04X} at position {i}): use visible characters"
            )
    if nfc != nfc.strip(" "):
        raise InvalidNameError(f"{what} begins or ends with a blank: remove it")
    for i, char in enumerate(nfc):
        if unicodedata.normalize("NFKC", char) != char:
            raise InvalidNameError(
                f"{what} holds a compatibility character (fullwidth, ligature, superscript: U+{ord(char):04X}"
                f" at position {i}) that displays like {unicodedata.normalize('NFKC', char)!r}: write that"
            )
    if unicodedata.normalize("NFKC", nfc) != nfc:  # a sequence that folds as a whole
        raise InvalidNameError(f"{what} holds compatibility characters: write its NFKC form instead")
    return nfc


def is_canonical_name(name: str) -> bool:
    try:
        return canonical_name(name) == name
    except InvalidNameError:
        return False
