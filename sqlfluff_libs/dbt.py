"""Lint-time stand-ins for dbt's cross-database macros (`dbt.type_string()`, ...), which
sqlfluff's jinja templater does not provide. Each renders the DuckDB SQL dbt would."""


def type_string():
    return "varchar"


def type_bigint():
    return "bigint"


def type_boolean():
    return "boolean"


def hash(expression):
    return f"md5(cast({expression} as varchar))"


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + interval ({interval}) {datepart})"
