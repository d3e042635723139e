"""The app's Postgres: replay the generated `users` / `events` dumps into a real server.

`load_app_tables(dsn, folder)` runs `schema.sql` and COPYs the CSVs in (users first, for
the foreign key). `embedded_server(dir)` starts a throwaway PostgreSQL from the pgserver
package (binaries ship in its wheel), for the demo and the tests.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg

APP_TABLES = ("users", "events")


def load_app_tables(dsn: str, folder: Path, schema: str = "public") -> dict[str, int]:
    """Create the app's tables in `schema` and load the dumps; returns rows per table."""
    folder = Path(folder)
    counts: dict[str, int] = {}
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        cur.execute(f'create schema if not exists "{schema}"')
        cur.execute(f'set search_path to "{schema}"')
        cur.execute((folder / "schema.sql").read_text())
        for table in APP_TABLES:
            with (open(folder / f"{table}.csv", "rb") as handle,
                  cur.copy(f"copy {table} from stdin with (format csv, header true)") as copy):
                while block := handle.read(1 << 20):
                    copy.write(block)
            cur.execute(f"select count(*) from {table}")
            counts[table] = cur.fetchone()[0]
    return counts


def embedded_server(directory: Path):
    """A running embedded PostgreSQL whose data lives in `directory` (pgserver).
    Stop it with `.cleanup()`; `.get_uri()` is its `postgresql://` connection string."""
    directory.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver's platformdirs falls back to /tmp when XDG_RUNTIME_DIR is unset
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        return pgserver.get_server(str(directory), cleanup_mode="stop")


