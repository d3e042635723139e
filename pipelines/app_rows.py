"""What a row of the app's tables must hold, and how its JSON is written: the rules the
app's two sources (`app_postgres`, `app_files`) share, so both load the same raw rows.

- **Keys.** A user without `id`, an event without `id` or `user_id` (or without the
  `name` and `created_at` it cannot be placed without), is not loaded but set aside with
  the reason (`missing_id`, `missing_user_id`, `missing_name`, `missing_created_at`).
  Null, `''` and blank (only white space, NBSP and the other Unicode spaces included)
  all count as without (SEMANTICS.md, "Clean rows first"). Any other id is kept exactly
  as it is, integer or text, never trimmed.
- **JSON columns** (`properties`) keep only the keys that are set: a key whose value is
  null is left out, at any depth (lists keep their nulls, which hold places). The text is
  compact with keys sorted, so the same properties read the same from every source,
  whether jsonb, a CSV field, a JSON-lines object or a Parquet struct (whose inferred
  type gives every row every key any row had, as nulls).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

KEYS: dict[str, tuple[str, ...]] = {"users": ("id",), "events": ("id", "user_id")}
# not ids, but an event cannot be placed without them either: null, '' or blank is missing
VALUES: dict[str, tuple[str, ...]] = {"users": (), "events": ("name", "created_at")}
# every character Python's str.strip() removes (none lies above U+3000); arrow's
# utf8_trim_whitespace removes the same set
WHITESPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
# at least 20 digits in a row: possibly an integer beyond 64 bits
LONG_DIGITS, LONG_DIGITS_BYTES = re.compile(r"\d{20}"), re.compile(rb"\d{20}")


def is_missing(value: Any) -> bool:
    """Null, `''` or only white space: no value."""
    return value is None or (isinstance(value, str) and not value.strip())


def missing_key(row: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The reason a row is set aside for its keys (`missing_<key>`, the first missing in
    `keys` order), or None when it has them all."""
    return next((f"missing_{key}" for key in keys if is_missing(row.get(key))), None)


def set_keys_only(value: Any) -> Any:
    """`value` with every object key whose value is null left out, at any depth."""
    if isinstance(value, dict):
        return {k: set_keys_only(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [set_keys_only(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes) -> Any:
    """JSON text parsed; raises ValueError when it is not JSON. Integers stay exact:
    orjson reads one beyond 64 bits as a float, so such text goes to the json module."""
    pattern = LONG_DIGITS if isinstance(text, str) else LONG_DIGITS_BYTES
    if pattern.search(text):
        return json.loads(text, parse_constant=_reject_constant)
    return orjson.loads(text)


def json_text(value: Any) -> str | None:
    """Compact JSON text (keys sorted) of a JSON value holding only its set keys. Text is
    parsed first (a CSV field, a Parquet string, jsonb sent as text); null stays null.
    Raises ValueError when text is not JSON."""
    if value is None:
        return None
    parsed = parse_json(value) if isinstance(value, str | bytes) else value
    if parsed is None:
        return None
    cleaned = set_keys_only(parsed)
    try:
        return orjson.dumps(cleaned, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(cleaned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
