"""A partition's key interval, shared by the planner, the SQL builders and the checkpoint.

Every partition is a half-open interval of the source key, ``(start, end]`` by default, because
that is what the seed's keyset query does (``> lastProcessedId`` starting at ``rangeStart`` and
``<= rangeEnd``): consecutive partitions then meet at a boundary without overlapping. The first
partition must also include the smallest key, so the lower bound can be *open* (``start=None``,
no lower predicate at all) or *inclusive* (``start_inclusive=True``). The upper bound is always
inclusive, or open (``end=None``) for the last partition so that no key above the last planned
boundary is missed.

Keys compare as Python strings (code-point order), which is also the byte order of their UTF-8
form: the order of a binary (``C``) collation. Boundaries always come from the source's own key
values, so coverage holds as long as the source orders keys the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Keys ``k`` with ``start < k <= end`` (or ``start <= k`` when ``start_inclusive``).

    ``start=None`` means no lower bound (the range includes the smallest key there is);
    ``end=None`` means no upper bound.
    """

    start: str | None = None
    end: str | None = None
    start_inclusive: bool = False

    def __post_init__(self) -> None:
        if self.start is None and self.start_inclusive:
            raise ValueError(
                "KeyRange: start_inclusive=True needs a start key; use start=None for an open start"
            )
        if (
            self.start is not None
            and self.end is not None
            and (self.start > self.end or (self.start == self.end and not self.start_inclusive))
        ):
            raise ValueError(
                f"KeyRange: start {self.start!r} must be below end {self.end!r} "
                "(an exclusive start equal to the end would hold no key)"
            )

    @classmethod
    def seed_bounds(cls, start: str, end: str) -> KeyRange:
        """The Apex seed's semantics: ``> start`` and ``<= end`` (so ``start`` itself is skipped)."""
        return cls(start=start, end=end, start_inclusive=False)

    @classmethod
    def inclusive(cls, start: str, end: str | None) -> KeyRange:
        """``start <= k <= end``: the first range of a plan that must include its first key."""
        return cls(start=start, end=end, start_inclusive=True)

    def contains(self, key: str) -> bool:
        """True when ``key`` belongs to this range."""
        if self.start is not None:
            if self.start_inclusive:
                if key < self.start:
                    return False
            elif key <= self.start:
                return False
        return self.end is None or key <= self.end

    def is_above(self, key: str) -> bool:
        """True when every key of this range is greater than ``key``."""
        if self.start is None:
            return False
        return key < self.start or (key == self.start and not self.start_inclusive)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "start_inclusive": self.start_inclusive}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRange:
        unknown = set(data) - {"start", "end", "start_inclusive"}
        if unknown:
            raise ValueError(f"KeyRange: unknown fields {sorted(unknown)}")
        for name in ("start", "end"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"KeyRange: {name} must be a string or null, got {data[name]!r}")
        return cls(
            start=data.get("start"),
            end=data.get("end"),
            start_inclusive=bool(data.get("start_inclusive", False)),
        )

    def describe(self) -> str:
        """Human form, e.g. ``[a, b]``, ``(a, b]``, ``(-inf, b]``."""
        low = "(-inf" if self.start is None else ("[" if self.start_inclusive else "(") + self.start
        high = "+inf)" if self.end is None else f"{self.end}]"
        return f"{low}, {high}"
