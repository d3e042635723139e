"""Where things live. One data directory holds one warehouse, so several can sit side by
side (tests use temporary ones):

    <data-dir>/generated/     demo source files (`journeys generate`)
    <data-dir>/raw.duckdb     landing database written by dlt (raw_* schemas)
    <data-dir>/warehouse.duckdb   dbt's database (staging, intermediate, marts schemas)
    <data-dir>/.dlt/          dlt pipeline state and working files for this warehouse
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "JOURNEYS_DATA_DIR"
PROJECT_DIR = Path(__file__).resolve().parent.parent  # the dbt project (repo root)


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, value: str | os.PathLike | None = None) -> DataDir:
        return cls(Path(value or os.environ.get(DATA_DIR_ENV) or "data").resolve())

    @property
    def generated(self) -> Path:
        return self.root / "generated"

    @property
    def raw_db(self) -> Path:
        return self.root / "raw.duckdb"

    @property
    def warehouse_db(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def pipelines(self) -> Path:
        return self.root / ".dlt"

    def ensure(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True)
        return self
