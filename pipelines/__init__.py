"""dlt pipelines: one module per source system. Each exposes a `@dlt.source` and is run by
`journeys.ingest`, which owns the destination (the raw DuckDB) and the run summary."""
