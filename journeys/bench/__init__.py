"""The benchmark harness (`journeys bench`, `make bench`): how fast and how big the
warehouse goes on the machine it runs on, side by side with DuckDB's own JSON reader (the
ingest floor) and ClickHouse's `windowFunnel` through chdb (the engine PostHog uses)."""
