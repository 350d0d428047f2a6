"""Salesforce-shaped record ids, deterministic so that seeds and tests agree on them.

A real id is a 3-character key prefix (001 Account, 006 Opportunity, 750 Bulk job, 751 batch,
00D org, 005 user), a pod/instance part and a base-62 serial, 15 characters in all, plus a
3-character suffix that encodes which of the 15 characters are upper case, so the 18-character
form survives case-insensitive systems.
"""

from __future__ import annotations

import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"
_POD = "EM0"  # marks emulator-made ids; real pods look like "5g0" or "Dn0"


def case_safe_suffix(id15: str) -> str:
    """The 3-character checksum Salesforce appends to a 15-character id."""
    if len(id15) != 15:
        raise ValueError(f"expected a 15-character id, got {id15!r}")
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def _base62(n: int, width: int) -> str:
    digits = []
    while n:
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"serial too large for {width} base-62 digits")
    return text.rjust(width, "0")


def salesforce_id(prefix: str, n: int) -> str:
    """The 18-character id number ``n`` (>= 0) of key prefix ``prefix`` (3 characters).

    ``salesforce_id("001", 1)`` is always the same Account id, so data seeded by different
    modules (Data Cloud rows referencing Accounts, the org's Account table) line up.
    """
    if len(prefix) != 3:
        raise ValueError(f"key prefix must be 3 characters, got {prefix!r}")
    if n < 0:
        raise ValueError("n must be >= 0")
    id15 = prefix + _POD + _base62(n, 9)
    return id15 + case_safe_suffix(id15)


def is_valid_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character id (checksum verified for 18)."""
    if len(value) not in (15, 18) or any(c not in _BASE62 for c in value):
        return False
    return len(value) == 15 or case_safe_suffix(value[:15]) == value[15:]
