"""Cursor lists, the one way every domain pages: ``{"object": "list", "data", "has_more", "next_cursor"}``.

A service fetches ``limit + 1`` rows newest first (``ORDER BY id DESC``: ids are time-ordered),
and :func:`page` turns them into the envelope; the extra row only says whether there is more."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import errors
from .ids import has_prefix


def id_cursor(cursor: str | None, prefix: str, what: str) -> str | None:
    """A cursor that must be an id of this kind (``what``: "a customer id"), or a 422 at /query/cursor."""
    if cursor is not None and not has_prefix(cursor, prefix):
        raise errors.field_error(errors.VALIDATION, "/query/cursor", f"must be {what} from next_cursor")
    return cursor


def page(rows: Sequence[Any], limit: int, render: Callable[[Any], Any],
         key: Callable[[Any], str] = lambda r: r["id"]) -> dict[str, Any]:
    """The list envelope from up to ``limit + 1`` rows; ``key`` gives the cursor of the last row shown."""
    more = len(rows) > limit
    shown = rows[:limit]
    return {"object": "list", "data": [render(r) for r in shown], "has_more": more,
            "next_cursor": key(shown[-1]) if more and shown else None}
