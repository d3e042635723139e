"""DuckDB's threads and memory limit come from the machine unless set (issue 17)."""

from __future__ import annotations

from pathlib import Path

from journeys.dbt import MEMORY_ENV, THREADS_ENV, machine_settings


def meminfo_bytes() -> int:
    """Physical memory as /proc/meminfo says it (kB), independently of os.sysconf."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def test_one_thread_per_core_and_a_quarter_of_the_memory(monkeypatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    settings = machine_settings()
    cores = Path("/proc/cpuinfo").read_text().count("processor\t:")
    assert settings[THREADS_ENV] == str(cores)
    gigabytes = int(settings[MEMORY_ENV].removesuffix("GB"))
    # MemTotal leaves out what the kernel keeps: within a gigabyte of a quarter of it
    assert abs(gigabytes - meminfo_bytes() / 4 / 10**9) <= 1


def test_either_is_overridden_by_its_variable(monkeypatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "7")
    monkeypatch.setenv(MEMORY_ENV, "900MB")
    assert machine_settings() == {THREADS_ENV: "7", MEMORY_ENV: "900MB"}
