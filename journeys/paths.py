"""Where things live. One data directory holds one warehouse, so several can sit side by
side (tests use temporary ones):

    <data-dir>/generated/     demo source files (`journeys generate`)
    <data-dir>/raw.duckdb     landing database written by dlt (raw_* schemas)
    <data-dir>/warehouse.duckdb   dbt's database (staging, intermediate, marts schemas)
    <data-dir>/.dlt/          dlt pipeline state and working files for this warehouse
"""

from __future__ import annotations

import os
import shutil
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

    @property
    def demo_marker(self) -> Path:
        return self.root / ".journeys-demo"

    def reset_for_demo(self) -> None:
        """Empty a data directory the demo made before (never one it did not make), so a
        new demo never mixes with an earlier generation's rows."""
        built = [p for p in (self.raw_db, self.warehouse_db) if p.exists()]
        if built and not self.demo_marker.exists():
            raise FileExistsError(
                f"{self.root} holds a warehouse the demo did not create; "
                "run the demo with another --data-dir.")
        for path in (self.raw_db, self.warehouse_db, self.pipelines, self.root / "dbt",
                     self.root / "postgres"):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        self.ensure()
        self.demo_marker.write_text("made by `journeys demo`; the demo may replace it\n")

    def ensure(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True)
        return self
