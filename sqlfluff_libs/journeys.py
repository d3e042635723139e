"""Lint-time stand-ins for this project's macros called as `journeys.<macro>(...)`.

sqlfluff's jinja templater loads macros/ as plain macros; calls qualified with the
project name need this module. Each returns SQL of the same shape as the DuckDB version.
"""


def json_text(column, key):
    return f"json_extract_string({column}, '$.\"{key}\"')"


def type_timestamptz():
    return "timestamp with time zone"


def to_utc(column):
    return f"cast({column} as timestamp with time zone)"


def short_md5(expression):
    return f"substring(md5({expression}), 1, 16)"


def source_or_empty(source_name, table_name, columns):
    return f"{source_name}__{table_name}"


def normalise_email(column):
    return f"nullif(lower(trim({column})), '')"


def is_blank(column):
    return f"({column} is null or trim({column}) = '')"


def is_illegal_distinct_id(column):
    return f"({column} is null or lower({column}) in ('anonymous', 'null'))"


def byte_order(expression):
    return expression


def trim_unicode(column):
    return f"trim({column})"


def source_columns(source_name, table_name, columns, required):
    return f"{source_name}__{table_name}"


def from_unix_seconds(column):
    return f"to_timestamp({column})"


def text_to_number(column, type=None):
    return f"try_cast(nullif(trim({column}), '') as {type or 'numeric(28, 6)'})"


def text_to_boolean(column):
    return f"case lower(trim({column})) when 'true' then true when 'false' then false end"


def cte_materialized():
    return "materialized"


def json_object(pairs):
    body = ", ".join(f"'{key}', {value}" for key, value in pairs)
    return f"json_object({body})"


def json_pairs(pairs):
    return ", ".join(f"'{key}', {value}" for key, value in pairs)


def type_json():
    return "json"


def seconds_between(start_at, end_at):
    return f"(cast(epoch_us({end_at}) - epoch_us({start_at}) as double) / 1000000)"


def json_type_at(column, key_expression):
    return f"json_type({column}, '$.\"' || {key_expression} || '\"')"


def canonical_event_name(expression):
    return f"lower(replace({expression}, '_', ''))"


def data_quality_checks():
    return []


def fixed_point_carry(carried_columns):
    return "fixed_point_carry"


def identity_passes_per_round():
    return 4
