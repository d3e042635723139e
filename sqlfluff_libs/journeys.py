"""Lint-time stand-ins for this project's macros called as `journeys.<macro>(...)`.

sqlfluff's jinja templater loads macros/ as plain macros; calls qualified with the
project name need this module. Each returns SQL of the same shape as the DuckDB version.
"""


def json_text(column, key):
    return f"json_extract_string({column}, '$.\"{key}\"')"


def json_text_columns(column, keys):
    paths = ", ".join(f"'$.\"{key}\"'" for key in keys)
    return ",\n".join(f"json_extract_string({column}, [{paths}])[{i}] as {alias}"
                       for i, alias in enumerate(keys.values(), start=1))


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


# -- funnels (macros/funnels.sql) ---------------------------------------------------------


def _lint_funnel(name, order, steps, **extra):
    definition = {
        "name": name, "order": order, "window_us": 14 * 86400 * 10**6,
        "date_from_us": None, "date_to_us": None, "breakdown_kind": None,
        "breakdown_name": None, "attribution": "first_touch", "attribution_step": None,
        "exclusions": [],
        "steps": [{"event": e, "where": {}, "where_person": {}} for e in steps],
        "constraints": [{"event": e, "steps": [k]} for k, e in enumerate(steps, start=1)],
    }
    definition.update(extra)
    return definition


def funnel_definitions():
    """One funnel of each order, so every branch of the funnel models renders."""
    exclusion = {"event": "x", "where": {}, "where_person": {}, "from_step": 1, "to_step": 2}
    ordered = _lint_funnel("ordered", "ordered", ["a", "b", "c"], breakdown_kind="column",
                           breakdown_name="plan", exclusions=[exclusion],
                           date_from_us=0, date_to_us=86400 * 10**6)
    # a person filter on a step, so the loops over person columns render too
    ordered["steps"][0]["where_person"] = {"plan": "pro"}
    return [
        ordered,
        _lint_funnel("strict", "strict", ["a", "b"], breakdown_kind="event_property",
                     breakdown_name="p", attribution="step", attribution_step=1),
        _lint_funnel("unordered", "unordered", ["a", "b"], breakdown_kind="event_property",
                     breakdown_name="p", attribution="last_touch"),
    ]


def funnel_max_steps():
    return 10


def funnel_width(funnels):
    return max([1] + [len(f["steps"]) for f in funnels])


def text_literal(text):
    return "'" + str(text).replace("'", "''") + "'"


def funnel_switch(column, pairs, default="null"):
    if not pairs:
        return str(default)
    whens = " ".join(f"when {text_literal(name)} then {sql}" for name, sql in pairs)
    return f"case {column} {whens} else {default} end"


def funnel_names_in(names):
    return "(" + (", ".join(text_literal(n) for n in names) or "''") + ")"


def funnel_step_predicate(step):
    return f"(event_name = {text_literal(step['event'])})"


def funnel_fill(funnel, k, prefix="h_"):
    return f"case when {prefix}1 >= 1 then 1 else 0 end"


def funnel_matching_size(funnel, prefix="h_"):
    return f"(1 - greatest(0, 1 - {prefix}1))"


def funnel_gain(reached, n):
    return f"case {reached} when 1 then i.fill_2 else 0 end"


def epoch_us(column):
    return f"epoch_us({column})"


def percentile_cont(column, fraction):
    return f"quantile_cont({column}, {fraction})"


def type_double():
    return "double"


def funnel_terms(numbers: list[int] | range, prefix: str, suffix: str = "",
                 separator: str = " or ", empty: str = "false") -> str:
    return separator.join(f"{prefix}{k}{suffix}" for k in numbers) or empty


def funnel_strict_level(k: int) -> str:
    terms = [f"(a.lvl_{s} and i.fill_{s + 1} >= {k - s})" for s in range(1, k)]
    return " or ".join(terms) or "false"


def funnel_constraint_count(funnel: dict, c: int) -> str:
    if c > len(funnel["constraints"]):
        return "cast(0 as bigint)"
    steps = funnel["constraints"][c - 1]["steps"]
    return f"count(case when {funnel_terms(steps, 'm_')} then 1 end)"


# -- retention (macros/retention.sql) ------------------------------------------------------


def retention_settings():
    return {"return_events": None, "cohort_event": None, "period": "week"}


def retention_is_return(return_events, source, event_name):
    return f"({source} in ('posthog', 'app') and {event_name} not like '$%')"


def retention_text_list(values):
    return ", ".join(text_literal(value) for value in values)


def retention_utc_date(instant):
    return f"cast(({instant} at time zone 'UTC') as date)"


def retention_period_start(period, day):
    return f"cast(date_trunc({period}, cast({day} as timestamp)) as date)"


def retention_periods_between(period, start_day, end_day):
    return f"cast(({end_day} - {start_day}) as bigint)"


def retention_zero_to(up_to):
    return f"unnest(generate_series(0, {up_to}))"


def data_end_at(persons):
    return f"(select max(last_seen_at) from {persons})"


def data_start_at(persons):
    return f"(select min(first_seen_at) from {persons})"


# -- daily metrics (macros/metrics.sql) ------------------------------------------------------


def metrics_active_events():
    return None


def metrics_trial_days():
    return 14


def metrics_add_days(day, days):
    return f"({day} + cast({days} as integer))"


def retention_days_between(start_day, end_day):
    return f"({end_day} - {start_day})"


# -- conversion drivers (macros/conversion_drivers.sql) --------------------------------------


def conversion_drivers_settings():
    return {"window_days": 7, "min_support": 30, "alpha": 0.05,
            "outcome_events": ["plan_upgraded", "cancellation_started", "account_deleted"]}


def conversion_drivers_plan_statuses():
    return ["active", "deprecated"]


def conversion_drivers_erfc(x, t):
    return f"case when {x} > 26 then 0.0 else {t} * exp(-{x} * {x}) end"


# -- engagement (macros/engagement.sql) -----------------------------------------------------


def intervention_trigger_rules():
    return [{"name": "stuck_before_first_item", "action": "in_app", "conditions": [
        {"number": 1, "kind": "did_not", "event_name": "first_item_created",
         "window_seconds": None, "threshold_seconds": 0, "follower_event": "plan_upgraded",
         "outcomes": ["in_trial"]}]}]


def intervention_trigger_event_names(rules):
    return ["first_item_created", "plan_upgraded"]


def intervention_trigger_rows(rules):
    return ("select 'r' as rule_name, 'in_app' as action, cast(1 as bigint) as condition_count,"
            " cast(1 as bigint) as condition_number, 'did_not' as kind,"
            " 'first_item_created' as event_name, cast(null as bigint) as window_seconds,"
            " cast(0 as bigint) as threshold_seconds, 'plan_upgraded' as follower_event,"
            " true as is_in_trial, false as is_expired_trial, false as is_converted,"
            " false as is_churned")


def add_seconds(instant, seconds):
    return f"({instant} + cast({seconds} as bigint) * interval '1 second')"


# -- journeys (macros/journeys.sql) -------------------------------------------------------


def journey_settings():
    return {"steps": 3, "excluded_events": ["$pageview"], "top_paths": 50,
            "not_steps": ["$identify", "$pageview"]}


def journey_labels():
    return {"signup": "signed_up", "end": "(end)", "separator": " → "}


def journey_identity_events():
    return ["$identify", "$create_alias", "$merge_dangerously"]


def journey_path(steps, ends_early):
    return "step_1 || coalesce(' → ' || step_2, '')"


# -- segments (macros/segments.sql) --------------------------------------------------------


def segments_settings():
    return {"champion_min_events": 100, "champion_max_days": 7, "power_user_min_events": 30,
            "power_user_max_days": 14, "active_max_days": 14, "at_risk_max_days": 30}


def segments_as_of_date(persons):
    return retention_utc_date(data_end_at(persons))


def segments_day_number(day):
    return f"({day} - cast('1970-01-01' as date))"


def segments_date_of(day_number):
    return f"cast(cast('1970-01-01' as date) + cast({day_number} as integer) as date)"


def segments_rule(settings, is_churned, lifetime_events, days_since_active):
    return (f"case when {is_churned} then 'churned' "
            f"when {lifetime_events} >= {settings['champion_min_events']} "
            f"and {days_since_active} <= {settings['champion_max_days']} then 'champion' "
            f"else 'dormant' end")
