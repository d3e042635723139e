{#- Funnels as data (docs/funnels.md, SEMANTICS.md "Funnels"): the `funnels` var is checked
    and normalised here once, and the funnel models generate their SQL from the result.
    A bad definition fails at compile time with a message naming the funnel and the field. -#}

{#- The most steps a funnel may have (the step columns of fct_funnel_persons). -#}
{% macro funnel_max_steps() -%}
    {{ return(10) }}
{%- endmacro %}

{#- The most steps of the configured funnels (at least 1): the intermediate models'
    step columns. -#}
{% macro funnel_width(funnels) -%}
    {{ return(([1] + funnels | map(attribute='steps') | map('length') | list) | max) }}
{%- endmacro %}

{#- SQL: `case <column> when <funnel> then <sql> ... else <default> end`, from
    [(funnel name, sql)] pairs; just the default when there are none. -#}
{% macro funnel_switch(column, pairs, default='null') -%}
    {%- if pairs | length == 0 -%}
        {{ default }}
    {%- else -%}
        case {{ column }}
        {%- for name, sql in pairs %}
            when {{ journeys.text_literal(name) }} then {{ sql }}
        {%- endfor %}
            else {{ default }}
        end
    {%- endif -%}
{%- endmacro %}

{% macro funnel_error(index, name, message) -%}
    {%- set label = ("funnel '" ~ name ~ "'") if name else ("funnels[" ~ index ~ "]") -%}
    {{ exceptions.raise_compiler_error("var 'funnels': " ~ label ~ ": " ~ message) }}
{%- endmacro %}

{#- A configured value as the text the warehouse compares it with (JSON's spelling). -#}
{% macro funnel_value_text(value) -%}
    {%- if value is sameas true -%}{{ return('true') }}
    {%- elif value is sameas false -%}{{ return('false') }}
    {%- else -%}{{ return(value | string) }}
    {%- endif -%}
{%- endmacro %}

{% macro funnel_filters(index, name, owner, filters, allowed_columns=none) -%}
    {%- if filters is none -%}{{ return({}) }}{%- endif -%}
    {%- if filters is not mapping or filters | length == 0 -%}
        {{ journeys.funnel_error(index, name,
            owner ~ " must be a mapping of names to values, got " ~ (filters | string)) }}
    {%- endif -%}
    {%- set out = {} -%}
    {%- for key, value in filters.items() -%}
        {%- if value is none or value is mapping or (value is iterable and value is not string) -%}
            {{ journeys.funnel_error(index, name,
                owner ~ "." ~ key ~ " must be a single value (text, number or boolean), got "
                ~ (value | string)) }}
        {%- endif -%}
        {%- if allowed_columns is not none and key not in allowed_columns -%}
            {{ journeys.funnel_error(index, name,
                owner ~ "." ~ key ~ " is not a dim_persons column (columns: "
                ~ (allowed_columns | join(', ')) ~ ")") }}
        {%- endif -%}
        {%- do out.update({key | string: journeys.funnel_value_text(value)}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- dim_persons' documented columns (its contract), for breakdown and where_person: those
    of the version `ref('dim_persons')` reads, the latest (CHANGELOG.md). -#}
{% macro funnel_person_columns() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == 'journeys'
        and node.name == 'dim_persons'
        and (node.version is none or node.version | string == node.latest_version | string) -%}
        {{ return(node.columns.keys() | list) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{% macro funnel_date(index, name, field, value) -%}
    {%- if value is none -%}{{ return(none) }}{%- endif -%}
    {%- set text = value | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ journeys.funnel_error(index, name, field ~ " must be a date YYYY-MM-DD, got " ~ text) }}
    {%- endif -%}
    {%- set year, month, day = text[:4] | int, text[5:7] | int, text[8:10] | int -%}
    {%- if not (1 <= month <= 12) -%}
        {{ journeys.funnel_error(index, name, field ~ " is not a date: " ~ text) }}
    {%- endif -%}
    {%- set first = modules.datetime.datetime(year, month, 1) -%}
    {%- set next_first = modules.datetime.datetime(year + month // 12, month % 12 + 1, 1) -%}
    {%- if not (1 <= day <= (next_first - first).days) -%}
        {{ journeys.funnel_error(index, name, field ~ " is not a date: " ~ text) }}
    {%- endif -%}
    {{ return(modules.datetime.datetime(year, month, day)) }}
{%- endmacro %}

{#- Microseconds since the epoch of a UTC midnight (compile-time constant). -#}
{% macro funnel_epoch_us(day) -%}
    {%- set epoch = modules.datetime.datetime(1970, 1, 1) -%}
    {%- set delta = day - epoch -%}
    {{ return((delta.days * 86400 + delta.seconds) * 1000000) }}
{%- endmacro %}

{#- A funnel's breakdown as (kind, name): (none, none) without one, ('column', NAME) for a
    dim_persons column, ('event_property', NAME) for {event_property: NAME}. -#}
{% macro funnel_breakdown(index, name, breakdown, person_columns) -%}
    {%- if breakdown is none -%}{{ return((none, none)) }}{%- endif -%}
    {%- if breakdown is mapping -%}
        {%- if breakdown.keys() | list != ['event_property'] or not breakdown['event_property'] -%}
            {{ journeys.funnel_error(index, name,
                "breakdown must be a dim_persons column or {event_property: NAME}, got "
                ~ (breakdown | string)) }}
        {%- endif -%}
        {{ return(('event_property', breakdown['event_property'] | string)) }}
    {%- endif -%}
    {%- if person_columns is not none and breakdown not in person_columns -%}
        {{ journeys.funnel_error(index, name,
            "breakdown '" ~ breakdown ~ "' is not a dim_persons column (columns: "
            ~ (person_columns | join(', '))
            ~ "; for an event property write {event_property: " ~ breakdown ~ "})") }}
    {%- endif -%}
    {{ return(('column', breakdown | string)) }}
{%- endmacro %}

{#- A funnel's breakdown_attribution as (attribution, step): ('first_touch', none),
    ('last_touch', none) or ('step', N) for {step: N}. -#}
{% macro funnel_attribution(index, name, attribution, step_count) -%}
    {%- if attribution is mapping -%}
        {%- set step = attribution.get('step') -%}
        {%- if attribution.keys() | list != ['step'] or step is not number
               or step < 1 or step > step_count -%}
            {{ journeys.funnel_error(index, name,
                "breakdown_attribution {step: N} needs N between 1 and " ~ step_count
                ~ ", got " ~ (attribution | string)) }}
        {%- endif -%}
        {{ return(('step', step)) }}
    {%- endif -%}
    {%- if attribution not in ['first_touch', 'last_touch'] -%}
        {{ journeys.funnel_error(index, name,
            "breakdown_attribution must be first_touch, last_touch or {step: N}, got '"
            ~ attribution ~ "'") }}
    {%- endif -%}
    {{ return((attribution, none)) }}
{%- endmacro %}

{#- Checks the var and returns one dict per funnel:
    name, order, window_us, window_label, date_from_us, date_to_us (exclusive bound),
    steps [{event, where, where_person, class}], breakdown_kind (none | column |
    event_property), breakdown_name, attribution (first_touch | last_touch | step),
    attribution_step, constraints (for matching steps to simultaneous events, below). -#}
{% macro funnel_definitions() -%}
    {%- set raw = var('funnels', []) or [] -%}
    {%- if raw is mapping or raw is string or raw is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "var 'funnels' must be a list of funnel definitions, got " ~ (raw | string)) }}
    {%- endif -%}
    {%- set person_columns = journeys.funnel_person_columns() -%}
    {%- set known = ['name', 'steps', 'order', 'window_days', 'window_hours', 'window_seconds',
                     'date_from', 'date_to', 'breakdown', 'breakdown_attribution', 'exclusions'] -%}
    {%- set funnels = [] -%}
    {%- set names = [] -%}
    {%- for f in raw -%}
        {%- set i = loop.index0 -%}
        {%- if f is not mapping -%}
            {{ journeys.funnel_error(i, none,
                "must be a mapping with name and steps, got " ~ (f | string)) }}
        {%- endif -%}
        {%- set name = f.get('name') -%}
        {%- if name is none or not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', name | string) -%}
            {{ journeys.funnel_error(i, none,
                "name must be letters, digits and underscores (got " ~ (name | string) ~ ")") }}
        {%- endif -%}
        {%- if name in names -%}
            {{ journeys.funnel_error(i, name, "name is used by another funnel") }}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- for key in f.keys() if key not in known -%}
            {{ journeys.funnel_error(i, name,
                "unknown field '" ~ key ~ "' (fields: " ~ (known | join(', ')) ~ ")") }}
        {%- endfor -%}

        {#- steps -#}
        {%- set raw_steps = f.get('steps') -%}
        {%- if raw_steps is none or raw_steps is string or raw_steps is mapping
               or raw_steps | length == 0 -%}
            {{ journeys.funnel_error(i, name, "steps must be a list of 1 to 10 steps") }}
        {%- endif -%}
        {%- if raw_steps | length > 10 -%}
            {{ journeys.funnel_error(i, name,
                "steps: at most 10 steps, got " ~ (raw_steps | length)) }}
        {%- endif -%}
        {%- set steps = [] -%}
        {%- for s in raw_steps -%}
            {%- set where = "steps[" ~ loop.index ~ "]" -%}
            {%- if s is string -%}{%- set s = {'event': s} -%}{%- endif -%}
            {%- if s is not mapping or not s.get('event') -%}
                {{ journeys.funnel_error(i, name,
                    where ~ " needs an event (got " ~ (s | string) ~ ")") }}
            {%- endif -%}
            {%- for key in s.keys() if key not in ['event', 'where', 'where_person'] -%}
                {{ journeys.funnel_error(i, name,
                    where ~ ": unknown field '" ~ key ~ "' (fields: event, where, where_person)") }}
            {%- endfor -%}
            {%- do steps.append({
                'event': s['event'] | string,
                'where': journeys.funnel_filters(i, name, where ~ ".where", s.get('where')),
                'where_person': journeys.funnel_filters(
                    i, name, where ~ ".where_person", s.get('where_person'), person_columns),
            }) -%}
        {%- endfor -%}

        {#- order and window -#}
        {%- set order = f.get('order') or 'ordered' -%}
        {%- if order not in ['ordered', 'strict', 'unordered'] -%}
            {{ journeys.funnel_error(i, name,
                "order must be ordered, strict or unordered, got '" ~ order ~ "'") }}
        {%- endif -%}
        {%- set windows = [] -%}
        {%- for key, unit in [
            ('window_days', 86400), ('window_hours', 3600), ('window_seconds', 1)] -%}
            {%- if f.get(key) is not none -%}
                {%- set value = f.get(key) -%}
                {%- if value is not number or value is sameas true or value is sameas false
                       or value != (value | int) or value <= 0 -%}
                    {{ journeys.funnel_error(i, name,
                        key ~ " must be a positive whole number, got " ~ (value | string)) }}
                {%- endif -%}
                {%- do windows.append((key, (value | int) * unit)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if windows | length > 1 -%}
            {{ journeys.funnel_error(i, name,
                "give one of window_days, window_hours, window_seconds, not "
                ~ (windows | map(attribute=0) | join(' and '))) }}
        {%- endif -%}
        {%- set window_seconds = windows[0][1] if windows else 14 * 86400 -%}

        {#- date range -#}
        {%- set date_from = journeys.funnel_date(i, name, 'date_from', f.get('date_from')) -%}
        {%- set date_to = journeys.funnel_date(i, name, 'date_to', f.get('date_to')) -%}
        {%- if date_from is not none and date_to is not none and date_from > date_to -%}
            {{ journeys.funnel_error(i, name,
                "date_from " ~ f.get('date_from') ~ " is after date_to " ~ f.get('date_to')) }}
        {%- endif -%}

        {#- breakdown -#}
        {%- set breakdown_kind, breakdown_name = journeys.funnel_breakdown(
            i, name, f.get('breakdown'), person_columns) -%}
        {%- set attribution, attribution_step = journeys.funnel_attribution(
            i, name, f.get('breakdown_attribution') or 'first_touch', steps | length) -%}

        {#- exclusions -#}
        {%- set exclusions = [] -%}
        {%- for x in f.get('exclusions') or [] -%}
            {%- set where = "exclusions[" ~ loop.index ~ "]" -%}
            {%- if x is not mapping or not x.get('event') -%}
                {{ journeys.funnel_error(i, name, where ~ " needs an event") }}
            {%- endif -%}
            {%- set between = x.get('between') -%}
            {%- if between is none or between is string or between is mapping
                   or between | length != 2
                   or between[0] is not number or between[1] is not number
                   or not (1 <= between[0] < between[1] <= steps | length) -%}
                {{ journeys.funnel_error(i, name,
                    where ~ ".between must be [i, j] with 1 <= i < j <= " ~ (steps | length)
                    ~ ", got " ~ (between | string)) }}
            {%- endif -%}
            {%- do exclusions.append({
                'event': x['event'] | string,
                'where': journeys.funnel_filters(i, name, where ~ ".where", x.get('where')),
                'where_person': {},
                'from_step': between[0] | int, 'to_step': between[1] | int}) -%}
        {%- endfor -%}

        {%- set definition = {
            'name': name, 'order': order, 'steps': steps,
            'window_us': window_seconds * 1000000,
            'date_from_us': journeys.funnel_epoch_us(date_from) if date_from is not none else none,
            'date_to_us': (journeys.funnel_epoch_us(date_to) + 86400 * 1000000)
                if date_to is not none else none,
            'breakdown_kind': breakdown_kind, 'breakdown_name': breakdown_name,
            'attribution': attribution, 'attribution_step': attribution_step,
            'exclusions': exclusions,
        } -%}
        {%- do definition.update({'constraints': journeys.funnel_constraints(i, definition)}) -%}
        {%- do funnels.append(definition) -%}
    {%- endfor -%}
    {{ return(funnels) }}
{%- endmacro %}

{#- Matching steps to simultaneous events (Hall's condition). Steps with the same event,
    `where` and `where_person` form a class (an event matches all of them or none). For
    each event name and each non-empty set Q of its classes, a constraint counts the
    events matching any class of Q; a set R of steps can be filled by distinct events
    exactly when, for every constraint, that count >= the number of R's steps in Q.
    Returns [{'steps': [step numbers], 'step_numbers_of': ...}] in a fixed order. -#}
{% macro funnel_constraints(index, funnel) -%}
    {%- set classes = [] -%}      {#- [{'key', 'event', 'steps'}] -#}
    {%- for step in funnel.steps -%}
        {%- set key = step.event ~ '|' ~ (step.where | dictsort | string)
            ~ '|' ~ (step.where_person | dictsort | string) -%}
        {%- set found = classes | selectattr('key', 'equalto', key) | list -%}
        {%- if found -%}
            {%- do found[0].steps.append(loop.index) -%}
        {%- else -%}
            {%- do classes.append({'key': key, 'event': step.event, 'steps': [loop.index]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set constraints = [] -%}
    {%- for event in classes | map(attribute='event') | unique -%}
        {%- set of_event = classes | selectattr('event', 'equalto', event) | list -%}
        {%- if of_event | length > 6 -%}
            {{ journeys.funnel_error(index, funnel.name,
                "event '" ~ event ~ "' is in more than 6 steps with different filters") }}
        {%- endif -%}
        {%- for mask in range(1, 2 ** (of_event | length)) -%}
            {%- set steps = [] -%}
            {%- for c in of_event -%}
                {%- if (mask // (2 ** loop.index0)) % 2 == 1 -%}
                    {%- do steps.extend(c.steps) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do constraints.append({'event': event, 'steps': steps | sort}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(constraints) }}
{%- endmacro %}

{#- SQL: the event (or the event's person) matches step `step` of a funnel. -#}
{% macro funnel_step_predicate(step) -%}
    {%- set text = dbt.type_string() -%}
    (event_name = {{ journeys.text_literal(step.event) }}
    {%- for key, value in step.where.items() %}
        and {{ journeys.json_text('properties', key) }} = {{ journeys.text_literal(value) }}
    {%- endfor -%}
    {%- for column, value in step.where_person.items() %}
        and cast(person_{{ column }} as {{ text }}) = {{ journeys.text_literal(value) }}
    {%- endfor -%})
{%- endmacro %}

{#- The number of the steps k..k+j-1 in `steps` (a constraint's step list). -#}
{% macro funnel_overlap(steps, first, count) -%}
    {%- set n = [] -%}
    {%- for s in steps if first <= s < first + count -%}{%- do n.append(s) -%}{%- endfor -%}
    {{ return(n | length) }}
{%- endmacro %}

{#- SQL: how many steps from step k on the events counted by `h_<c>` columns can fill
    (the largest j such that steps k..k+j-1 satisfy every constraint). -#}
{% macro funnel_fill(funnel, k, prefix='h_') -%}
    {%- set n = funnel.steps | length -%}
    case
    {%- for j in range(n - k + 1, 0, -1) %}
        {%- set conditions = [] -%}
        {%- for c in funnel.constraints -%}
            {%- set need = journeys.funnel_overlap(c.steps, k, j) -%}
            {%- if need > 0 -%}
                {%- do conditions.append(prefix ~ loop.index ~ ' >= ' ~ need ~ ' and ') -%}
            {%- endif -%}
        {%- endfor %}
        when {{ conditions | join('') }}true then {{ j }}
    {%- endfor %}
        else 0
    end
{%- endmacro %}

{#- SQL: the most steps (in any order) the events counted by `h_<c>` can fill: per event
    name, its steps minus the largest deficiency |steps(Q)| - count(Q) (König). -#}
{% macro funnel_matching_size(funnel, prefix='h_') -%}
    {%- set terms = [] -%}
    {%- for event in funnel.constraints | map(attribute='event') | unique -%}
        {%- set deficiencies = [] -%}
        {%- set total = [] -%}
        {%- for c in funnel.constraints -%}
            {%- if c.event == event -%}
                {%- do deficiencies.append((c.steps | length) ~ ' - ' ~ prefix ~ loop.index) -%}
                {%- if c.steps | length > total | length -%}
                    {%- do total.clear() -%}{%- do total.extend(c.steps) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do terms.append('(' ~ (total | length)
            ~ ' - greatest(0, ' ~ (deficiencies | join(', ')) ~ '))') -%}
    {%- endfor -%}
    ({{ terms | join(' + ') }})
{%- endmacro %}

{#- SQL: `(name, ...)` for `funnel_name in ...`; an empty list gives `('')`. -#}
{% macro funnel_names_in(names) -%}
    {%- set literals = [] -%}
    {%- for name in names -%}
        {%- do literals.append(journeys.text_literal(name)) -%}
    {%- endfor -%}
    ({{ literals | join(', ') if literals else "''" }})
{%- endmacro %}

{#- SQL: `<prefix><k><suffix>` for each k of `numbers`, joined by `separator`
    (`lvl_1 or lvl_2 or lvl_3`); `empty` when there are none. -#}
{% macro funnel_terms(numbers, prefix, suffix='', separator=' or ', empty='false') -%}
    {%- set terms = [] -%}
    {%- for k in numbers -%}
        {%- do terms.append(prefix ~ k ~ suffix) -%}
    {%- endfor -%}
    {{ terms | join(separator) if terms else empty }}
{%- endmacro %}

{#- SQL: how many of an instant's events match constraint c of the funnel (any of the
    constraint's steps); 0 past the funnel's constraints. -#}
{% macro funnel_constraint_count(funnel, c) -%}
    {%- if c <= funnel.constraints | length -%}
        {%- set steps = funnel.constraints[c - 1].steps -%}
        count(case when {{ journeys.funnel_terms(steps, 'm_') }} then 1 end)
    {%- else -%}
        cast(0 as bigint)
    {%- endif -%}
{%- endmacro %}

{#- SQL (strict funnels): attempt `a` can stand at k steps after instant `i` when it stood
    at some s < k steps and `i` fills the k - s steps after step s; `false` for k = 1. -#}
{% macro funnel_strict_level(k) -%}
    {%- set terms = [] -%}
    {%- for s in range(1, k) -%}
        {%- do terms.append(
            '(a.lvl_' ~ s ~ ' and i.fill_' ~ (s + 1) ~ ' >= ' ~ (k - s) ~ ')') -%}
    {%- endfor -%}
    {{ terms | join(' or ') if terms else 'false' }}
{%- endmacro %}

{#- SQL: the steps instant `i` fills after `reached` steps (i.fill_<reached + 1>). -#}
{% macro funnel_gain(reached, n) -%}
    {%- if n < 2 %}0{% else -%}
        case {{ reached }}
        {%- for s in range(1, n) %}
        when {{ s }} then i.fill_{{ s + 1 }}
        {%- endfor %}
        else 0
    end
    {%- endif %}
{%- endmacro %}
