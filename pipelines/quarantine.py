"""Bad input is kept aside, never dropped: rows that cannot be loaded go to the
`_rejected_records` table of their dataset with the reason and where they came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dlt
import pyarrow as pa

REJECTED_TABLE = "_rejected_records"
UNREADABLE_FILE = "unreadable_file"  # a whole file set aside: position 0, the error as text
RAW_TEXT_LIMIT = 8 * 1024  # bytes of the original record kept for inspection
SCHEMA = pa.schema([
    ("source", pa.string()),
    ("location", pa.string()),
    ("position", pa.int64()),
    ("reason", pa.string()),
    ("raw", pa.string()),
    ("rejected_at", pa.timestamp("us", tz="UTC")),
])


@dataclass
class Rejects:
    """Collects rejected records of one source file or page."""

    source: str
    location: str
    rows: list[dict] = field(default_factory=list)

    def add(self, position: int, reason: str, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        self.rows.append(
            {
                "source": self.source,
                "location": self.location,
                "position": position,
                "reason": reason,
                "raw": raw[:RAW_TEXT_LIMIT],
                "rejected_at": dt.datetime.now(dt.UTC),
            }
        )

    def add_unreadable_file(self, error: BaseException, note: str = "") -> None:
        """The file as a whole could not be read: one reject for it at position 0, the
        error (and what happens next) as its text."""
        text = f"{type(error).__name__}: {error}"
        self.add(0, UNREADABLE_FILE, f"{text}; {note}" if note else text)

    def __len__(self) -> int:
        return len(self.rows)

    def table_item(self):
        """The collected rows, routed to `_rejected_records` (merge on where they came from,
        so re-reading a file does not count its bad lines twice)."""
        items = pa.Table.from_pylist(self.rows, schema=SCHEMA)
        hints = dlt.mark.make_hints(
            table_name=REJECTED_TABLE,
            primary_key=["source", "location", "position"],
            write_disposition="merge",
        )
        # a table variant: the resource's own hints (its main table) stay as they are
        return dlt.mark.with_hints(items, hints, create_table_variant=True)
