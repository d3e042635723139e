"""Issue 21's acceptance: one data dir whose export folders hold every bad case next to
good files, for both file sources, ingested the way a nightly job does (`journeys
ingest`, every source found), then built. The good rows all land (counted against the
hand-written lists of the per-source tests), each bad file or row is in
`_rejected_records` or named in the summary, only the app dump that could not be read at
all makes the exit code non-zero, `journeys build` passes on the result, and a second
ingest of the same folders changes no raw table."""

from __future__ import annotations

from pathlib import Path

import duckdb
from click.testing import CliRunner

from journeys.cli import main
from journeys.paths import DataDir
from tests.test_app_bad_files import EVENTS_1_CSV, EVENTS_2_CSV
from tests.test_posthog_bad_files import every_case

# the app's users in another column order, with a column of the customer's own
USERS_CSV = (
    "plan,email,team_id,id,signed_up_at,updated_at\n"
    "trial,ana@x.io,7,1,2026-05-01 10:00:00,2026-05-01 10:00:00\n"
    "pro,ben@x.io,T-8,2,2026-05-02 11:00:00,2026-05-02 11:00:00\n"
)
# an events export that lost its user_id column: a whole file that cannot be loaded
EVENTS_WITHOUT_USER_ID = "id,name,created_at\n15,file_uploaded,2026-05-04 11:00:00\n"

RAW_TABLES = ("raw_posthog.events", "raw_posthog._rejected_records", "raw_app.users",
              "raw_app.events", "raw_app._rejected_records")


def customer_folders(data: DataDir) -> tuple[list[str], list[tuple]]:
    posthog = data.generated / "posthog" / "events"
    posthog.mkdir(parents=True)
    uuids, posthog_rejects = every_case(posthog)
    app = data.generated / "app"
    app.mkdir(parents=True)
    (app / "users.csv").write_text(USERS_CSV)
    (app / "events-1.csv").write_text(EVENTS_1_CSV)
    (app / "events-2.csv").write_text(EVENTS_2_CSV)
    (app / "events-3.csv").write_text(EVENTS_WITHOUT_USER_ID)
    return uuids, posthog_rejects


def snapshot(data: DataDir) -> dict[str, list[tuple]]:
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        # rejected_at is when a row was set aside: the first run's, kept by the merge
        return {t: con.execute(f"select * from {t} order by all").fetchall()
                for t in RAW_TABLES}


def ingest(data: DataDir) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["ingest", "--data-dir", str(data.root)])
    return result.exit_code, " ".join(result.output.split())


def test_every_case_in_one_data_dir_loads_its_good_rows_and_builds(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    uuids, posthog_rejects = customer_folders(data)

    code, out = ingest(data)
    # the app dump without user_id could not be read at all: named, and exit 1 so a
    # nightly job notices; everything else loaded
    assert code == 1, out
    assert "could not read" in out and "events-3.csv" in out
    assert "missing_column_user_id" in out
    assert "skipped 1 file" in out and "readme.txt" in out
    tables = snapshot(data)
    assert [r[0] for r in tables["raw_posthog.events"]] == sorted(uuids)
    assert sorted((r[1].rsplit("/", 1)[-1], r[2], r[3])
                  for r in tables["raw_posthog._rejected_records"]) == posthog_rejects
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        assert con.execute("select id, email, plan from raw_app.users order by id").fetchall() \
            == [(1, "ana@x.io", "trial"), (2, "ben@x.io", "pro")]
        assert con.execute("select id, user_id, name from raw_app.events order by id"
                           ).fetchall() == [(11, 1, "signed_up"), (12, 2, "signed_up"),
                                            (13, 1, "file_uploaded"), (14, 2, "file_uploaded")]
        assert con.execute(
            "select regexp_extract(location, '[^/]*$'), position, reason "
            "from raw_app._rejected_records").fetchall() == [
            ("events-3.csv", 0, "missing_column_user_id")]

    build = CliRunner().invoke(main, ["build", "--data-dir", str(data.root)])
    assert build.exit_code == 0, build.output[-3000:]
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_events where source = 'posthog'"
                           ).fetchone() == (len(uuids),)
        assert con.execute("select count(*) from marts.fct_events where source = 'app'"
                           ).fetchone() == (4,)

    # the same folders again: nothing new, nothing re-quarantined
    code, out = ingest(data)
    assert code == 1 and "events-3.csv" in out
    assert snapshot(data) == tables
