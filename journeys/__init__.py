"""Journeys: where trial users get stuck, what converters do differently, who is about to
churn. dlt pipelines load the sources into a raw DuckDB; dbt builds the warehouse.

`journeys.track(...)` and `journeys.identify(...)` are server-side capture that enforces
the tracking plan (`journeys/capture.py`); they are loaded on first use, so importing the
package (the CLI does) does not import the PostHog SDK."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# names served lazily from journeys.capture
_CAPTURE_EXPORTS = frozenset({"track", "identify", "Tracker", "TrackingPlanViolation",
                              "InvalidDistinctId", "AppEventsTable"})


def __getattr__(name: str) -> Any:
    if name in _CAPTURE_EXPORTS:
        import importlib

        return getattr(importlib.import_module("journeys.capture"), name)
    raise AttributeError(f"module 'journeys' has no attribute {name!r}")
