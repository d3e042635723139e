"""Vectorised text building on numpy/pyarrow: ids, timestamps and JSON fragments for
millions of rows without a Python loop per row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
US_PER_MS = 1_000


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An arrow string array from an (n, width) uint8 array of ASCII codes (zero copy)."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(chars)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def hex_strings(raw: np.ndarray) -> pa.Array:
    """Lower-case hex of each row of an (n, k) uint8 array."""
    n, k = raw.shape
    nibbles = np.empty((n, 2 * k), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    return fixed_width_strings(_HEX[nibbles])


def uuid7_strings(time_us: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """UUIDv7 text (time-ordered, as PostHog uses for events and sessions)."""
    n = len(time_us)
    ms = (np.asarray(time_us, dtype=np.int64) // US_PER_MS).astype(np.uint64)
    raw = np.empty((n, 16), dtype=np.uint8)
    for i in range(6):
        raw[:, i] = ((ms >> np.uint64(8 * (5 - i))) & np.uint64(0xFF)).astype(np.uint8)
    raw[:, 6:] = rng.integers(0, 256, size=(n, 10), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return uuid_text(raw)


def uuid_text(raw: np.ndarray) -> pa.Array:
    """8-4-4-4-12 text of (n, 16) uint8 rows."""
    n = raw.shape[0]
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    chars = _HEX[nibbles]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = chars[:, 0:8]
    out[:, 9:13] = chars[:, 8:12]
    out[:, 14:18] = chars[:, 12:16]
    out[:, 19:23] = chars[:, 16:20]
    out[:, 24:36] = chars[:, 20:32]
    return fixed_width_strings(out)


def timestamps(time_us: np.ndarray) -> pa.Array:
    """int64 microseconds since the epoch -> arrow timestamp(us, UTC)."""
    return pa.array(np.asarray(time_us, dtype=np.int64), type=pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )


def iso_utc(time_us: np.ndarray) -> pa.Array:
    """ISO-8601 text as PostHog's JSONL writer (orjson) prints it:
    `2024-05-01T12:00:00.123456+00:00`, fraction omitted when it is zero."""
    text = pc.strftime(timestamps(time_us), format="%Y-%m-%dT%H:%M:%S")
    text = pc.replace_substring(text, ".000000", "")
    return join(text, "+00:00")


def take(values: Sequence[str | None], index: np.ndarray) -> pa.Array:
    """values[index] as an arrow string array (vectorised lookup)."""
    return pc.take(pa.array(list(values), type=pa.large_string()), pa.array(index))


def _large(part: pa.Array | str) -> pa.Array | pa.Scalar:
    if isinstance(part, str):
        return pa.scalar(part, pa.large_string())
    return part if part.type == pa.large_string() else part.cast(pa.large_string())


def join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate row-wise; a null part is skipped (so optional fragments drop out)."""
    return pc.binary_join_element_wise(*map(_large, parts), _large(""), null_handling="skip")


def fragment(prefix: str, values: pa.Array, suffix: str = "") -> pa.Array:
    """`prefix + value + suffix`, null where value is null."""
    return pc.binary_join_element_wise(
        _large(prefix), _large(values), _large(suffix), _large(""), null_handling="emit_null"
    )


def masked(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """values where keep, else null."""
    return pc.if_else(pa.array(keep), values, pa.scalar(None, type=values.type))


def write_lines(handle, lines: pa.Array) -> None:
    """Write a string array whose elements end in newlines straight from its buffer."""
    if len(lines) == 0:
        return
    lines = lines.cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    first = offsets[lines.offset]
    last = offsets[lines.offset + len(lines)]
    handle.write(memoryview(lines.buffers()[2])[first:last])
