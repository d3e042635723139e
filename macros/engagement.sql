{#- Engagement helpers (docs/engagement.md): the intervention trigger rules (var
    `intervention_triggers`) are read, checked and normalised here once, and turned into
    rows that fct_intervention_triggers joins with the events in one pass. A bad rule stops
    the build at compile time with a message naming the var, the rule and the field. -#}

{#- The condition kinds a rule can use, and the trial outcomes `trial_outcome` accepts. -#}
{% macro trigger_condition_kinds() -%}
    {{ return(['signed_up_at_least', 'did', 'did_not', 'inactive_for', 'trial_outcome']) }}
{%- endmacro %}

{% macro trigger_trial_outcomes() -%}
    {{ return(['in_trial', 'expired_trial', 'converted', 'churned']) }}
{%- endmacro %}

{% macro trigger_error(label, message) -%}
    {{ exceptions.raise_compiler_error(
        "var intervention_triggers: " ~ label ~ ": " ~ message
        ~ ". Fix it in dbt_project.yml's vars or with --vars (docs/engagement.md, "
        ~ "\"The rule grammar\").") }}
{%- endmacro %}

{#- A duration `{hours: N}` or `{days: N}` (exactly one key, N a whole number >= 0) as
    seconds. `field` names it in an error. -#}
{% macro trigger_duration(label, field, value) -%}
    {%- if value is not mapping or value | length != 1 -%}
        {{ journeys.trigger_error(label, field ~ " must be a duration, {hours: N} or {days: N} "
            ~ "(one key), got " ~ (value | string)) }}
    {%- endif -%}
    {%- set unit, amount = (value.items() | list)[0] -%}
    {%- if unit not in ['hours', 'days'] -%}
        {{ journeys.trigger_error(label, field ~ ": unknown unit '" ~ unit
            ~ "' (units: hours, days)") }}
    {%- endif -%}
    {%- if amount is not number or amount is sameas true or amount is sameas false
           or amount != (amount | int) or amount < 0 -%}
        {{ journeys.trigger_error(label, field ~ "." ~ unit
            ~ " must be a whole number >= 0 (no negative thresholds), got " ~ (amount | string)) }}
    {%- endif -%}
    {{ return((amount | int) * (3600 if unit == 'hours' else 86400)) }}
{%- endmacro %}

{#- An event name: a non-blank text. -#}
{% macro trigger_event(label, field, value) -%}
    {%- if value is not string or value | trim == '' -%}
        {{ journeys.trigger_error(label, field ~ " must be an event name (a non-blank text), got "
            ~ (value | string)) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- The settings of a did / did_not condition, checked. -#}
{% macro trigger_event_condition(label, kind, value) -%}
    {%- set known = ['event', 'within', 'at_least_ago', 'not_followed_by'] if kind == 'did'
        else ['event', 'within'] -%}
    {%- if value is string -%}{%- set value = {'event': value} -%}{%- endif -%}
    {%- if value is not mapping -%}
        {{ journeys.trigger_error(label, "must be an event name or a mapping with event ("
            ~ known | join(', ') ~ "), got " ~ (value | string)) }}
    {%- endif -%}
    {%- for key in value.keys() if key not in known -%}
        {{ journeys.trigger_error(label, "unknown field '" ~ key ~ "' (fields of " ~ kind ~ ": "
            ~ known | join(', ') ~ ")") }}
    {%- endfor -%}
    {%- set condition = {
        'event_name': journeys.trigger_event(label, 'event', value.get('event'))} -%}
    {%- set within = value.get('within') -%}
    {%- if within is none -%}
        {%- do condition.update({'window_seconds': none}) -%}
    {%- elif within == 'trial' -%}
        {%- do condition.update({'window_seconds': (var('trial_days') | int) * 86400}) -%}
    {%- elif within is mapping -%}
        {%- do condition.update({
            'window_seconds': journeys.trigger_duration(label, 'within', within)}) -%}
    {%- else -%}
        {{ journeys.trigger_error(label, "within must be trial or a duration ({hours: N} or "
            ~ "{days: N}), got " ~ (within | string)) }}
    {%- endif -%}
    {%- set ago = value.get('at_least_ago') -%}
    {%- do condition.update({'threshold_seconds': 0 if ago is none
        else journeys.trigger_duration(label, 'at_least_ago', ago)}) -%}
    {%- set follower = value.get('not_followed_by') -%}
    {%- do condition.update({'follower_event': none if follower is none
        else journeys.trigger_event(label, 'not_followed_by', follower)}) -%}
    {{ return(condition) }}
{%- endmacro %}

{#- The rules of var intervention_triggers, checked: [{name, action, conditions: [{number,
    kind, event_name, window_seconds, threshold_seconds, follower_event, outcomes}]}].
    Empty settings are none (or []). -#}
{% macro intervention_trigger_rules() -%}
    {%- set raw = var('intervention_triggers', []) -%}
    {%- if raw is none -%}{{ return([]) }}{%- endif -%}
    {%- if raw is mapping or raw is string or raw is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "var intervention_triggers must be a list of rules ({name, action, conditions}), "
            ~ "got " ~ (raw | string) ~ ". Fix it in dbt_project.yml's vars or with --vars "
            ~ "(docs/engagement.md, \"The rule grammar\").") }}
    {%- endif -%}
    {%- set kinds = journeys.trigger_condition_kinds() -%}
    {%- set rules = [] -%}
    {%- set names = [] -%}
    {%- for r in raw -%}
        {%- set label = "rule " ~ loop.index -%}
        {%- if r is not mapping -%}
            {{ journeys.trigger_error(label, "must be a mapping with name, action and conditions, "
                ~ "got " ~ (r | string)) }}
        {%- endif -%}
        {%- set name = r.get('name') -%}
        {%- if name is not string or name | trim == '' -%}
            {{ journeys.trigger_error(label, "field name is missing or not a non-blank text (got "
                ~ (name | string) ~ ")") }}
        {%- endif -%}
        {%- set label = "rule '" ~ name ~ "'" -%}
        {%- if name in names -%}
            {{ journeys.trigger_error(label, "field name: another rule has the same name") }}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- for key in r.keys() if key not in ['name', 'action', 'conditions'] -%}
            {{ journeys.trigger_error(label, "unknown field '" ~ key
                ~ "' (fields: name, action, conditions)") }}
        {%- endfor -%}
        {%- set action = r.get('action') -%}
        {%- if action is not string or action | trim == '' -%}
            {{ journeys.trigger_error(label, "field action is missing or not a non-blank text, "
                ~ "like csm, in_app or email (got " ~ (action | string) ~ ")") }}
        {%- endif -%}
        {%- set raw_conditions = r.get('conditions') -%}
        {%- if raw_conditions is none or raw_conditions is string or raw_conditions is mapping
               or raw_conditions is not iterable or raw_conditions | length == 0 -%}
            {{ journeys.trigger_error(label, "field conditions must be a non-empty list of "
                ~ "conditions (got " ~ (raw_conditions | string) ~ ")") }}
        {%- endif -%}
        {%- set conditions = [] -%}
        {%- for c in raw_conditions -%}
            {%- set where = label ~ ", condition " ~ loop.index -%}
            {%- if c is not mapping or c | length != 1 -%}
                {{ journeys.trigger_error(where, "must be a mapping with one key, one of "
                    ~ kinds | join(', ') ~ " (got " ~ (c | string) ~ ")") }}
            {%- endif -%}
            {%- set kind, value = (c.items() | list)[0] -%}
            {%- if kind not in kinds -%}
                {{ journeys.trigger_error(where, "unknown condition '" ~ kind ~ "' (conditions: "
                    ~ kinds | join(', ') ~ ")") }}
            {%- endif -%}
            {%- set where = where ~ " (" ~ kind ~ ")" -%}
            {%- set condition = {'number': loop.index, 'kind': kind, 'event_name': none,
                'window_seconds': none, 'threshold_seconds': none, 'follower_event': none,
                'outcomes': []} -%}
            {%- if kind in ['signed_up_at_least', 'inactive_for'] -%}
                {%- do condition.update({
                    'threshold_seconds': journeys.trigger_duration(where, kind, value)}) -%}
            {%- elif kind in ['did', 'did_not'] -%}
                {%- do condition.update(journeys.trigger_event_condition(where, kind, value)) -%}
            {%- else -%}
                {%- if value is string -%}{%- set value = [value] -%}{%- endif -%}
                {%- if value is mapping or value is not iterable or value | length == 0 -%}
                    {{ journeys.trigger_error(where, "must be a non-empty list of trial outcomes ("
                        ~ journeys.trigger_trial_outcomes() | join(', ') ~ "), got "
                        ~ (value | string)) }}
                {%- endif -%}
                {%- for outcome in value if outcome not in journeys.trigger_trial_outcomes() -%}
                    {{ journeys.trigger_error(where, "unknown trial outcome '" ~ outcome
                        ~ "' (outcomes: " ~ journeys.trigger_trial_outcomes() | join(', ') ~ ")") }}
                {%- endfor -%}
                {%- do condition.update({'outcomes': value | list}) -%}
            {%- endif -%}
            {%- do conditions.append(condition) -%}
        {%- endfor -%}
        {%- do rules.append({'name': name, 'action': action, 'conditions': conditions}) -%}
    {%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}

{#- The event names the rules look at: did / did_not events and not_followed_by events. -#}
{% macro intervention_trigger_event_names(rules) -%}
    {%- set names = [] -%}
    {%- for rule in rules -%}
        {%- for c in rule.conditions -%}
            {%- for name in [c.event_name, c.follower_event]
                if name is not none and name not in names -%}
                {%- do names.append(name) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- A literal or SQL null of a type. -#}
{% macro trigger_value(value, type) -%}
    {%- if value is none -%}
        cast(null as {{ type }})
    {%- elif value is string -%}
        {{ journeys.text_literal(value) }}
    {%- else -%}
        cast({{ value }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- The rules as rows, one per condition (a select; no rows when there are no rules):
    rule_name, action, condition_count, condition_number, kind, event_name, window_seconds,
    threshold_seconds, follower_event, and one boolean per trial outcome. -#}
{% macro intervention_trigger_rows(rules) -%}
    {%- set text = dbt.type_string() -%}
    {%- set outcomes = journeys.trigger_trial_outcomes() -%}
    {%- set selects = [] -%}
    {%- for rule in rules -%}
        {%- for c in rule.conditions -%}
            {%- set columns = [
                journeys.text_literal(rule.name) ~ ' as rule_name',
                journeys.text_literal(rule.action) ~ ' as action',
                'cast(' ~ rule.conditions | length ~ ' as bigint) as condition_count',
                'cast(' ~ c.number ~ ' as bigint) as condition_number',
                "'" ~ c.kind ~ "' as kind",
                journeys.trigger_value(c.event_name, text) ~ ' as event_name',
                journeys.trigger_value(c.window_seconds, 'bigint') ~ ' as window_seconds',
                journeys.trigger_value(c.threshold_seconds, 'bigint') ~ ' as threshold_seconds',
                journeys.trigger_value(c.follower_event, text) ~ ' as follower_event'] -%}
            {%- for outcome in outcomes -%}
                {%- do columns.append(
                    ('true' if outcome in c.outcomes else 'false') ~ ' as is_' ~ outcome) -%}
            {%- endfor -%}
            {%- do selects.append('select ' ~ columns | join(', ')) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if selects | length == 0 -%}
        {%- set columns = [
            'cast(null as ' ~ text ~ ') as rule_name',
            'cast(null as ' ~ text ~ ') as action',
            'cast(null as bigint) as condition_count',
            'cast(null as bigint) as condition_number',
            'cast(null as ' ~ text ~ ') as kind',
            'cast(null as ' ~ text ~ ') as event_name',
            'cast(null as bigint) as window_seconds',
            'cast(null as bigint) as threshold_seconds',
            'cast(null as ' ~ text ~ ') as follower_event'] -%}
        {%- for outcome in outcomes -%}
            {%- do columns.append('false as is_' ~ outcome) -%}
        {%- endfor -%}
        {%- do selects.append('select ' ~ columns | join(', ') ~ ' where 1 = 0') -%}
    {%- endif -%}
    {{ selects | join('\nunion all\n') }}
{%- endmacro %}

{#- An instant plus a number of seconds (a SQL expression, whole seconds), microsecond
    exact on every engine. -#}
{% macro add_seconds(instant, seconds) -%}
    {{ return(adapter.dispatch('add_seconds', 'journeys')(instant, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds(instant, seconds) -%}
    ({{ instant }} + cast({{ seconds }} as bigint) * interval '1 second')
{%- endmacro %}

{% macro spark__add_seconds(instant, seconds) -%}
    timestamp_micros(unix_micros({{ instant }}) + cast({{ seconds }} as bigint) * 1000000)
{%- endmacro %}
