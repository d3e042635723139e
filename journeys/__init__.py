"""Journeys: where trial users get stuck, what converters do differently, who is about to
churn. dlt pipelines load the sources into a raw DuckDB; dbt builds the warehouse."""

__version__ = "0.1.0"
