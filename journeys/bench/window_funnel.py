"""A funnel counted by ClickHouse's `windowFunnel` (through chdb, embedded ClickHouse, the
engine PostHog runs on), beside our mart's counts on the same events (issue 17).

    rows = export_funnel_events(warehouse_db, funnel, out / "events.parquet")
    result = window_funnel(out / "events.parquet", funnel)
    assert result.steps == mart_steps(warehouse_db, funnel["name"])

`funnel` is one entry of the `funnels` var (dbt_project.yml). Only ordered funnels without
breakdown, exclusions or `where_person` translate: windowFunnel has no unordered mode,
its 'strict_order' is not SEMANTICS.md's strict (a repeat of the step just reached passes
it), and the others would be our own SQL around it, not windowFunnel. Anything else raises
ValueError.

The translation, per person (`group by person_id`):

    windowFunnel(<window in µs>)(toUInt64(toUnixTimestamp64Micro(occurred_at)),
                                 ifNull(<step 1 matches>, 0), ..., ifNull(<step n>, 0))

returns how many steps the person reached; persons_reached(k) counts those with k or
more. Where windowFunnel's rules differ from SEMANTICS.md "Funnels", and what makes them
agree here (each checked by a hand case in tests/test_window_funnel.py):

- Precision. windowFunnel refuses DateTime64 (ClickHouse 26.9: "must be Unsigned Number,
  Date, DateTime"), and DateTime is whole seconds: PostHog's older funnel queries passed
  `toDateTime(timestamp)`, under which a step 1.5 s after step 1 is within a 1 s window.
  We pass microseconds since the epoch as UInt64, so the window is in microseconds too
  and the comparison is as exact as fct_events' `occurred_at`. (UInt64: instants before
  1970 would wrap; event data has none.)
- Window boundary: inclusive in both (windowFunnel keeps a step when
  `step 1 + window >= t`): a step exactly the window after step 1 counts, one
  microsecond later does not.
- Equal timestamps: windowFunnel treats a person's events at one instant as in step
  order, whichever row comes first, as SEMANTICS.md does (its 'strict_increase' mode
  would not; we do not use it).
- One event, two steps: windowFunnel lets one row satisfy several conditions of one
  chain (`a → a` reaches 2 with a single `a`); SEMANTICS.md needs distinct events. They
  can differ only when one event can match two steps (the same event name with
  compatible filters).
- Best attempt: windowFunnel keeps, for each step reached, the latest step-1 event that
  reached it, and tries to extend that; with steps that no single event can match
  twice, that is the furthest step over all attempts (a later start leaves more window),
  SEMANTICS.md's best attempt. A repeated step-1 event restarts the window, as ours.
- NULL: a row whose condition is NULL is skipped whole by ClickHouse's aggregate (a
  missing property makes `event_name = 'x' and property = 'v'` NULL, which would also
  hide that row from every other step); `ifNull(..., 0)` makes a missing property simply
  not match, as SEMANTICS.md says.
- Date range and person key: windowFunnel has neither. The query's `where` keeps
  `[date_from 00:00, date_to + 1 day 00:00)` UTC before aggregating (the window never
  extends `date_to`), and it groups by fct_events' `person_id`, our identity graph's
  person, the key the mart counts (PostHog itself would group by its own person ids).
- Which events: only the rows `export_funnel_events` writes, the same rows
  int_funnel__events reads (counted, in range, matching a step).

So for the default activation funnel (four steps with four distinct event names, ordered,
a 14-day window, no date range, no breakdown) no rule differs and the counts must agree.

Timing (docs/funnels.md, "Side by side with ClickHouse windowFunnel"): `seconds` is the
median wall time of `runs` runs of the windowFunnel query alone, over a MergeTree table
loaded from the Parquet file, sorted by (person_id, occurred_at) and merged to one part
beforehand (`load_seconds`, not part of the query time), as our side reads an already
built fct_events. ClickHouse's `max_threads` defaults to the machine's cores, as DuckDB's
`threads` does; `threads=` sets it to match a DuckDB run that sets its own.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

DEFAULT_WINDOW_SECONDS = 14 * 86400
WINDOW_UNITS = {"window_days": 86400, "window_hours": 3600, "window_seconds": 1}
FIELDS = {"name", "steps", "order", *WINDOW_UNITS, "date_from", "date_to", "breakdown",
          "breakdown_attribution", "exclusions"}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Step:
    """A step: the event name and its property filters, each configured value as the text
    the warehouse compares it with (macros/funnels.sql `funnel_value_text`)."""

    event: str
    where: dict[str, str]


@dataclass(frozen=True)
class Funnel:
    """An ordered, breakdown-less funnel definition, normalised for both engines."""

    steps: list[Step]
    window_us: int
    from_us: int | None    # inclusive, UTC midnight of date_from
    to_us: int | None      # exclusive, UTC midnight after date_to

    def filter_columns(self) -> dict[str, str]:
        """The exported column of each `where` property, named by position so that any
        key (`$browser`) makes a plain column name."""
        columns: dict[str, str] = {}
        for step in self.steps:
            for key in step.where:
                columns.setdefault(key, f"property_{len(columns) + 1}")
        return columns


@dataclass(frozen=True)
class WindowFunnelResult:
    """persons reaching at least step k (steps[k-1]), the median and every timing of the
    windowFunnel query, the load's time, the rows loaded, ClickHouse's max_threads and
    the query."""

    steps: list[int]
    seconds: float
    all_seconds: list[float]
    load_seconds: float
    rows: int
    threads: int
    sql: str


def value_text(value: Any) -> str:
    """A configured filter value as text: `true`/`false` for booleans, else as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def midnight_us(day: Any) -> int:
    """Microseconds since the epoch of a date's UTC midnight."""
    date = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    moment = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def parse_funnel(funnel: dict) -> Funnel:
    """The `funnels` var entry as a Funnel; ValueError for what windowFunnel cannot say."""
    name = funnel.get("name", "?")
    unknown = set(funnel) - FIELDS
    if unknown:
        raise ValueError(f"funnel '{name}': unknown fields {sorted(unknown)}")
    if (funnel.get("order") or "ordered") != "ordered":
        raise ValueError(
            f"funnel '{name}': order '{funnel['order']}' has no windowFunnel equivalent "
            "(no unordered mode; 'strict_order' lets a repeat of the step just reached "
            "pass, SEMANTICS.md's strict does not); compare ordered funnels only")
    for key in ("breakdown", "exclusions"):
        if funnel.get(key):
            raise ValueError(
                f"funnel '{name}': {key} is not part of windowFunnel; compare funnels "
                f"without {key}")
    windows = [key for key in WINDOW_UNITS if funnel.get(key) is not None]
    if len(windows) > 1:
        raise ValueError(f"funnel '{name}': give one of {', '.join(WINDOW_UNITS)}")
    seconds = (int(funnel[windows[0]]) * WINDOW_UNITS[windows[0]] if windows
               else DEFAULT_WINDOW_SECONDS)
    steps = []
    for raw in funnel.get("steps") or []:
        step = {"event": raw} if isinstance(raw, str) else raw
        if step.get("where_person"):
            raise ValueError(
                f"funnel '{name}': where_person (a dim_persons column) is not translated; "
                "compare funnels with event property filters only")
        steps.append(Step(
            event=str(step["event"]),
            where={str(k): value_text(v) for k, v in (step.get("where") or {}).items()}))
    if not steps:
        raise ValueError(f"funnel '{name}': no steps")
    date_from, date_to = funnel.get("date_from"), funnel.get("date_to")
    return Funnel(
        steps=steps, window_us=seconds * 1_000_000,
        from_us=midnight_us(date_from) if date_from is not None else None,
        to_us=midnight_us(date_to) + 86_400_000_000 if date_to is not None else None)


def export_funnel_events(warehouse: Path, funnel: dict, out: Path,
                         every_event: bool = False) -> int:
    """Write to Parquet the events the funnel's steps can match, from a built warehouse
    (opened read-only); returns the number of rows. With `every_event`, every counted
    event in range instead, with its `properties` as JSON text: windowFunnel then picks
    the steps' events and reads their properties itself (`JSONExtractString`), the work
    our funnel models do on fct_events, which is what the benchmark times.

    The same input int_funnel__events gives our funnel models: rows of marts.fct_events
    where `is_counted` (a PostHog copy of an app event is not a second occurrence), in the
    date range (UTC microseconds, date_to's whole day, no window beyond it), matching
    some step: same `event_name` and each `where` property, read as text with DuckDB's
    `json_extract_string` (the models' `json_text` on DuckDB), equal to the configured
    text. The columns are what windowFunnel needs: person_id, occurred_at (UTC,
    microseconds), event_name and one text column per filtered property
    (`Funnel.filter_columns`), null when the event has no such property; the matching
    itself is redone by the windowFunnel query's conditions.
    """
    spec = parse_funnel(funnel)
    columns = spec.filter_columns()
    selects, params = [], []
    for key, column in columns.items():
        selects.append(f"json_extract_string(events.properties, ?) as {column}")
        params.append(f'$."{key}"')
    matches = []
    for step in spec.steps:
        terms = ["event_name = ?"]
        params.append(step.event)
        for key, value in step.where.items():
            terms.append(f"{columns[key]} = ?")
            params.append(value)
        matches.append("(" + " and ".join(terms) + ")")
    in_range = ["events.is_counted"]
    if spec.from_us is not None:
        in_range.append(f"epoch_us(events.occurred_at) >= {spec.from_us}")
    if spec.to_us is not None:
        in_range.append(f"epoch_us(events.occurred_at) < {spec.to_us}")
    sql = f"""
        copy (
            select * from (
                select
                    events.person_id,
                    events.occurred_at,
                    events.event_name{"".join(", " + s for s in selects)}
                from marts.fct_events as events
                where {" and ".join(in_range)}
            )
            where {" or ".join(matches)}
            order by person_id, occurred_at
        ) to '{_duckdb_path(out)}' (format parquet)
    """
    if every_event:
        sql = f"""
            copy (
                select events.person_id, events.occurred_at, events.event_name,
                    events.properties::varchar as properties
                from marts.fct_events as events
                where {" and ".join(in_range)}
                order by person_id, occurred_at
            ) to '{_duckdb_path(out)}' (format parquet)
        """
        params = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (rows,) = con.execute(sql, params).fetchone()
    return rows


def window_funnel_sql(funnel: dict, every_event: bool = False) -> str:
    """The windowFunnel query: one row, persons reaching at least step k for k = 1..n.
    With `every_event` the table holds every event and its `properties` as JSON text, and
    a `where` filter reads the property with `JSONExtractString` (text values, as the
    default funnels' filters are: it gives '' for a number, where our models compare
    the number's text)."""
    spec = parse_funnel(funnel)
    columns = spec.filter_columns()
    conditions = []
    for step in spec.steps:
        terms = [f"event_name = {_clickhouse_text(step.event)}"]
        for key, value in step.where.items():
            column = (f"JSONExtractString(properties, {_clickhouse_text(key)})" if every_event
                      else columns[key])
            terms.append(f"{column} = {_clickhouse_text(value)}")
        # a NULL condition would make ClickHouse skip the whole row (module docstring)
        conditions.append(f"ifNull({' and '.join(terms)}, 0)")
    micros = "toUnixTimestamp64Micro(occurred_at)"
    in_range = [f"{micros} >= {spec.from_us}"] if spec.from_us is not None else []
    if spec.to_us is not None:
        in_range.append(f"{micros} < {spec.to_us}")
    where = f"\n    where {' and '.join(in_range)}" if in_range else ""
    reached = ",\n    ".join(f"countIf(level >= {k})" for k in range(1, len(conditions) + 1))
    condition_list = ",\n            ".join(conditions)
    return f"""select
    {reached}
from (
    select
        person_id,
        windowFunnel({spec.window_us})(
            toUInt64({micros}),
            {condition_list}
        ) as level
    from events{where}
    group by person_id
)"""


def window_funnel(events: Path, funnel: dict, runs: int = 3, workdir: Path | None = None,
                  threads: int | None = None, every_event: bool = False
                  ) -> WindowFunnelResult:
    """Count the funnel with windowFunnel over `events` (from export_funnel_events) in a
    chdb session under a temporary directory (in `workdir` when given): load the Parquet
    file into a MergeTree table sorted by person and time, then time the query `runs`
    times. `threads` sets ClickHouse's max_threads (default: the machine's cores).
    `every_event`: the file holds every event (export_funnel_events' `every_event`).

    chdb holds one data path per process at a time: the session is closed before this
    returns, and a caller with a chdb session of its own open must close it first."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    try:
        from chdb import session as chdb_session
    except ImportError as error:
        raise RuntimeError(
            "chdb is not installed; it comes with the dev extra: pip install -e '.[dev]'"
        ) from error
    spec = parse_funnel(funnel)
    filters = ", properties String" if every_event else "".join(
        f", {column} Nullable(String)" for column in spec.filter_columns().values())
    sql = window_funnel_sql(funnel, every_event)
    if threads is not None:
        sql += f"\nsettings max_threads = {int(threads)}"
    with tempfile.TemporaryDirectory(prefix="chdb-", dir=workdir) as path:
        session = chdb_session.Session(path)
        try:
            started = time.perf_counter()
            session.query(
                "create table events (person_id String, occurred_at DateTime64(6, 'UTC'), "
                f"event_name String{filters}) engine = MergeTree "
                "order by (person_id, occurred_at)")
            session.query(f"insert into events select * from file({_clickhouse_text(str(events))}, "
                          "Parquet)")
            session.query("optimize table events final")
            load_seconds = time.perf_counter() - started
            rows = int(_one_row(session, "select count() from events")[0])
            effective_threads = threads or int(
                _one_row(session, "select getSetting('max_threads')")[0])
            timings, steps = [], []
            for _ in range(runs):
                started = time.perf_counter()
                steps = [int(v) for v in _one_row(session, sql)]
                timings.append(time.perf_counter() - started)
        finally:
            session.close()
    return WindowFunnelResult(
        steps=steps, seconds=statistics.median(timings), all_seconds=timings,
        load_seconds=load_seconds, rows=rows, threads=effective_threads, sql=sql)


def mart_steps(warehouse: Path, funnel_name: str) -> list[int]:
    """persons_reached by step of a breakdown-less funnel in a built warehouse's
    marts.fct_funnel_steps (its `'(all)'` rows)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select persons_reached from marts.fct_funnel_steps "
            "where funnel_name = ? and breakdown_value = '(all)' order by step_number",
            [funnel_name]).fetchall()
    if not rows:
        raise ValueError(
            f"{warehouse}: marts.fct_funnel_steps has no '(all)' rows for funnel "
            f"'{funnel_name}' (not configured, or it has a breakdown)")
    return [persons for (persons,) in rows]


def _one_row(session: Any, sql: str) -> list[str]:
    """The values of a query's single result row, as text."""
    return session.query(sql, "TabSeparated").data().strip().split("\t")


def _clickhouse_text(value: str) -> str:
    """A ClickHouse string literal (backslash is its escape character)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _duckdb_path(path: Path) -> str:
    return str(path).replace("'", "''")
