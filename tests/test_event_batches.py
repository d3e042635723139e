"""The batch validator (pipelines/event_batches.py) against the rule book it stands in
for, `posthog_files.validate`, run line by line.

For any batch of lines the two must keep the same rows with the same values, and set
aside the same lines for the same reasons. The lines are drawn from the forms customers'
exports really take, and from the near misses at every rule: ids as integers, fractions
or objects, blank ids of every kind of white space, timestamps in every ISO form and a
few that are not, JSON columns as objects, JSON text, text that is not JSON or '', extra
columns of every type (`set` / `set_once` typed as JSON), a key twice, lines that are
not objects, not JSON or not UTF-8.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import posthog_files
from pipelines.event_batches import BatchValidator, split_lines

NOW = dt.datetime.now(dt.UTC)
IDS = st.sampled_from(["0190-aa", "d1", "person@example.com", "ü-ß", "a b", "x\ty"])
BLANKS = st.sampled_from(["", " ", "\t", "\n", "\u3000", "\xa0", "\x1f", " \u2029 "])
NUMBERS = st.sampled_from([0, 5, -12, 2**63 - 1, 2**64, 1.5, 1e20, -0.0])
SCALARS = st.one_of(IDS, BLANKS, NUMBERS, st.booleans(), st.none())
NESTED = st.one_of(SCALARS, st.just({"a": 1, "b": [1, "x"]}), st.just([1, 2]), st.just({}))


def iso(moment: dt.datetime, form: int) -> str:
    text = moment.isoformat()
    return [
        text,                                            # +00:00 with microseconds
        text.replace("+00:00", "Z"),
        text.replace("T", " "),
        moment.replace(tzinfo=None).isoformat(),         # no offset: UTC
        moment.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat(),
        moment.strftime("%Y-%m-%dT%H:%M:%S+0200"),
        moment.strftime("%Y-%m-%d"),
        moment.strftime("%Y-%m-%dT%H:%M"),
        moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "7",    # seven fractional digits
        moment.strftime("%Y%m%dT%H%M%S"),                 # basic format
        " " + text,
    ][form]


MOMENTS = st.datetimes(min_value=dt.datetime(1999, 1, 1), max_value=dt.datetime(2030, 1, 1),
                       timezones=st.just(dt.UTC))
TIMESTAMPS = st.one_of(
    st.builds(iso, MOMENTS, st.integers(0, 10)),
    st.sampled_from(["infinity", "2026-02-30T00:00:00", "2026-04-20T24:00:00", "2026-W01-1",
                     "yesterday", "2026-04-20T02:06:13+25:00"]),
    SCALARS,
)
JSON_VALUES = st.one_of(NESTED, st.sampled_from(['{"a": 1}', "[1]", "not json", '"x"', "5"]))
COLUMNS = {
    "uuid": st.one_of(IDS, SCALARS), "event": st.one_of(IDS, SCALARS),
    "distinct_id": st.one_of(IDS, SCALARS), "elements_chain": NESTED,
    "person_id": NESTED, "timestamp": TIMESTAMPS, "_inserted_at": TIMESTAMPS,
    "created_at": TIMESTAMPS, "properties": JSON_VALUES, "person_properties": JSON_VALUES,
    "set": JSON_VALUES, "set_once": JSON_VALUES, "team_id": NESTED, "ip": NESTED,
    "_source_file": IDS,
}
GOOD = {  # a row every rule accepts, so that most drawn rows differ from it in a few places
    "uuid": "u", "event": "$pageview", "distinct_id": "d",
    "timestamp": "2026-04-20T02:06:13.252059+00:00",
    "_inserted_at": "2026-04-20T02:06:16+00:00", "created_at": "2026-04-20T02:06:15Z",
    "properties": {"$current_url": "https://x.io/"}, "person_properties": {},
    "elements_chain": "", "person_id": "p",
}


@st.composite
def lines(draw) -> bytes:
    row = dict(GOOD)
    for name in draw(st.lists(st.sampled_from(sorted(COLUMNS)), max_size=4, unique=True)):
        row[name] = draw(COLUMNS[name])
    for name in draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=2, unique=True)):
        del row[name]
    text = json.dumps(row, ensure_ascii=draw(st.booleans()))
    shape = draw(st.integers(0, 30))
    if shape == 0:  # a key twice: the last one counts
        text = text[:-1] + ', "uuid": "twice"}'
    elif shape == 1:
        text = json.dumps([row])
    elif shape == 2:
        text = text[:-3]  # cut short
    elif shape == 3:
        text = "  " + text
    elif shape == 4:
        return text.encode() + b"\r"
    elif shape == 5:
        return b"\xff" + text.encode()
    elif shape == 6:
        text = ""
    return text.encode()


def line_by_line(raws: list[bytes]) -> tuple[dict[int, dict], dict[int, str]]:
    """(kept rows by line, reasons by line) from `validate`, one line at a time."""
    kept, reasons = {}, {}
    for index, raw in enumerate(raws):
        record = posthog_files.decoded(posthog_files.line_text(raw))
        if isinstance(record, Exception):
            reasons[index] = "malformed_json"
            continue
        row, reason = posthog_files.validate(record)
        if reason:
            reasons[index] = reason
        else:
            kept[index] = row
    return kept, reasons


def in_batches(raws: list[bytes]) -> tuple[dict[int, dict], dict[int, str]]:
    """The same through the batch validator, its unsettled lines through `validate`."""
    data = b"".join(raw + b"\n" for raw in raws)
    text, offsets = split_lines(data)
    validator = BatchValidator(posthog_files.EVENT_SCHEMA)
    try:
        settled = validator.settle(text)
    finally:
        validator.close()
    kept = dict(zip(settled.settled.tolist(), settled.rows.to_pylist(), strict=True))
    rest = [data[offsets[i]:offsets[i + 1]] for i in settled.unsettled.tolist()]
    by_rule, reasons = line_by_line(rest)
    index = settled.unsettled.tolist()
    kept |= {index[i]: row for i, row in by_rule.items()}
    return kept, {index[i]: reason for i, reason in reasons.items()}


JSON_TEXT = {*posthog_files.JSON_COLUMNS}


def comparable(row: dict) -> dict:
    """A kept row with no value for what has none, JSON text as the value it holds
    (DuckDB writes an object's text again, its own way: `1e20` can come back as
    `100000000000000000000.0`)."""
    out = {}
    for name, value in row.items():
        if value is None or name == "_source_file":
            continue
        if name in JSON_TEXT or (name not in posthog_files.CONTRACT and isinstance(value, str)
                                 and value[:1] in "{[-0123456789tfn"):
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(value)
        out[name] = value
    return out


def extras_as_text(row: dict) -> dict:
    """`validate` leaves an extra column's value as it came; the load writes it as text
    (`_to_table` / `extra_text`), which is what the batch validator gives."""
    return {name: (posthog_files.extra_text(value) if name not in posthog_files.CONTRACT
                   else value) for name, value in row.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=40))
def test_the_batch_validator_keeps_and_sets_aside_what_validate_does(raws) -> None:
    expected_rows, expected_reasons = line_by_line(raws)
    rows, reasons = in_batches(raws)
    assert reasons == expected_reasons
    assert sorted(rows) == sorted(expected_rows)
    for index, row in rows.items():
        expected = comparable(extras_as_text(expected_rows[index]))
        assert comparable(extras_as_text(row)) == expected, raws[index]


def test_a_clean_batch_is_settled_whole_and_typed_as_the_contract_says() -> None:
    """The common case never reaches `validate`: every line of a clean export settles."""
    raws = [json.dumps(GOOD | {"uuid": f"u{i}"}).encode() for i in range(50)]
    data = b"\n".join(raws)
    text, _ = split_lines(data)
    validator = BatchValidator(posthog_files.EVENT_SCHEMA)
    settled = validator.settle(text)
    assert len(settled.unsettled) == 0 and settled.rows.num_rows == 50
    expected = pa.schema([f for f in posthog_files.EVENT_SCHEMA if f.name != "_source_file"])
    assert settled.rows.schema == expected
    first = settled.rows.slice(0, 1).to_pylist()[0]
    assert first["timestamp"] == dt.datetime(2026, 4, 20, 2, 6, 13, 252059, tzinfo=dt.UTC)
    assert first["created_at"] == dt.datetime(2026, 4, 20, 2, 6, 15, tzinfo=dt.UTC)
    assert orjson.loads(first["properties"]) == {"$current_url": "https://x.io/"}


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"uuid": " ", "event": "e", "distinct_id": "d", "timestamp": "2026-04-20"}',
     "missing_uuid"),
    (b'{"uuid": "u", "event": "e", "distinct_id": 1.5, "timestamp": "2026-04-20"}',
     "distinct_id_wrong_type"),
    (b'{"uuid": "u", "event": "e", "distinct_id": "d", "timestamp": "2026-04-20T24:00:00"}',
     "unparseable_timestamp"),
    (b'{"uuid": "u", "event": "e", "distinct_id": "d", "timestamp": "2026-04-20", '
     b'"created_at": "2026-04-18T00:00:00Z"}', "timestamp_in_future"),
    (b'{"uuid": "u", "event": "e", "distinct_id": "d", "timestamp": "2026-04-20", '
     b'"properties": "not json"}', "properties_not_json"),
    (b'{"uuid": "u", "event"', "malformed_json"),
])
def test_each_rule_still_sets_its_row_aside_with_its_reason(raw, reason) -> None:
    assert in_batches([raw]) == ({}, {0: reason})
