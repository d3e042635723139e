{#-
    Who needs a nudge now (docs/engagement.md, "Intervention triggers"): one row per rule of
    var intervention_triggers and person who matches it as of the data's end, with the
    moment they started to match and the rule's action. The rules are rows (one per
    condition, macros/engagement.sql), joined with the events in one pass over fct_events.
-#}

{%- set rules = journeys.intervention_trigger_rules() -%}
{%- set event_names = journeys.intervention_trigger_event_names(rules) -%}
{%- set followers = [] -%}
{%- for rule in rules -%}
    {%- for c in rule.conditions
        if c.follower_event is not none and c.follower_event not in followers -%}
        {%- do followers.append(c.follower_event) -%}
    {%- endfor -%}
{%- endfor -%}
{%- set is_product = journeys.retention_is_return(none, 'source', 'event_name') %}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

-- one row per condition of every rule (macros/engagement.sql)
conditions as (

    {{ journeys.intervention_trigger_rows(rules) }}

),

-- the data's end (macros/data_end.sql): the moment "now" means, never the wall clock
data_end as (

    select {{ journeys.data_end_at('persons') }} as data_end_at

),

-- the one read of fct_events: each real occurrence once (is_counted), product use (for
-- inactivity) and the events the rules name (any source)
relevant_events as {{ journeys.cte_materialized() }} (

    select
        person_id,
        event_name,
        occurred_at,
        {{ is_product }} as is_product

    from events
    where
        is_counted
        and (
            {{ is_product }}
            {%- if event_names %}
                or event_name in ({{ journeys.retention_text_list(event_names) }})
            {%- endif %}
        )

),

last_product_events as (

    select
        person_id,
        max(occurred_at) as last_product_event_at

    from relevant_events
    where is_product
    group by person_id

),

-- each person's latest occurrence of each not_followed_by event
last_followers as (

    select
        person_id,
        event_name,
        max(occurred_at) as last_occurred_at

    from relevant_events
    {%- if followers %}
        where event_name in ({{ journeys.retention_text_list(followers) }})
    {%- else %}
        where 1 = 0
    {%- endif %}
    group by person_id, event_name

),

-- started_at: the person's first moment (their signup or first event, whichever is
-- earlier), which a did_not without a window and inactive_for without any product event
-- count from. The trial outcome's moments: a conversion or churn takes effect at signup
-- at the earliest (a churn without a time, at signup)
people_moments as (

    select
        persons.person_id,
        persons.email,
        persons.signed_up_at,
        persons.trial_outcome,
        case
            when persons.signed_up_at is null then persons.first_seen_at
            when
                persons.first_seen_at is null
                or persons.signed_up_at < persons.first_seen_at
                then persons.signed_up_at
            else persons.first_seen_at
        end as started_at,
        {{ journeys.add_seconds('persons.signed_up_at', (var('trial_days') | int) * 86400) }}
            as trial_ends_at,
        case
            when persons.converted_at < persons.signed_up_at then persons.signed_up_at
            else persons.converted_at
        end as converted_from,
        case
            when persons.churned_at < persons.signed_up_at then persons.signed_up_at
            when persons.churned_at is null and persons.trial_outcome = 'churned'
                then persons.signed_up_at
            else persons.churned_at
        end as churned_from,
        last_product_events.last_product_event_at

    from persons
    left join last_product_events on persons.person_id = last_product_events.person_id

),

-- a signed-up person's trial outcome over time is a run of segments: in_trial from
-- signup, expired_trial from the trial's end, churned from the churn, converted from the
-- conversion (a later segment cuts an earlier one short; empty ones are skipped). Each
-- segment's end, and whether it is there at all before the data's end
people as (

    select
        people_moments.*,
        least(
            people_moments.trial_ends_at,
            coalesce(people_moments.churned_from, people_moments.trial_ends_at),
            coalesce(people_moments.converted_from, people_moments.trial_ends_at)
        ) as in_trial_ends_at,
        least(
            coalesce(people_moments.churned_from, people_moments.converted_from),
            coalesce(people_moments.converted_from, people_moments.churned_from)
        ) as expired_trial_ends_at,
        people_moments.converted_from as churned_ends_at,
        people_moments.trial_ends_at <= data_end.data_end_at
        and (
            people_moments.churned_from is null
            or people_moments.trial_ends_at < people_moments.churned_from
        )
        and (
            people_moments.converted_from is null
            or people_moments.trial_ends_at < people_moments.converted_from
        ) as has_expired_trial,
        people_moments.churned_from is not null
        and (
            people_moments.converted_from is null
            or people_moments.churned_from < people_moments.converted_from
        ) as has_churned

    from people_moments
    cross join data_end

),

-- the first occurrence that satisfies each did / did_not condition: in the window from
-- signup when there is one (start included, end excluded), not followed (at or after it)
-- by the not_followed_by event, and at least at_least_ago before the data's end
occurrences as (

    select
        conditions.rule_name,
        conditions.condition_number,
        relevant_events.person_id,
        min(relevant_events.occurred_at) as first_occurred_at

    from conditions
    inner join relevant_events on conditions.event_name = relevant_events.event_name
    inner join people on relevant_events.person_id = people.person_id
    left join last_followers
        on
            relevant_events.person_id = last_followers.person_id
            and conditions.follower_event = last_followers.event_name
    cross join data_end
    where
        conditions.kind in ('did', 'did_not')
        and (
            conditions.window_seconds is null
            or (
                relevant_events.occurred_at >= people.signed_up_at
                and relevant_events.occurred_at
                < {{ journeys.add_seconds('people.signed_up_at', 'conditions.window_seconds') }}
            )
        )
        and (
            last_followers.last_occurred_at is null
            or relevant_events.occurred_at > last_followers.last_occurred_at
        )
        and {{ journeys.add_seconds('relevant_events.occurred_at',
                                    'coalesce(conditions.threshold_seconds, 0)') }}
        <= data_end.data_end_at
    group by
        conditions.rule_name,
        conditions.condition_number,
        relevant_events.person_id

),

-- every person against every condition: since_at is the moment the condition began to
-- hold without a break until now, null when it does not hold
evaluated as (

    select
        conditions.rule_name,
        conditions.action,
        conditions.condition_count,
        conditions.condition_number,
        people.person_id,
        people.email,
        case conditions.kind
            when 'signed_up_at_least'
                then {{ journeys.add_seconds(
                    'people.signed_up_at', 'conditions.threshold_seconds') }}
            when 'did'
                then {{ journeys.add_seconds(
                    'occurrences.first_occurred_at', 'conditions.threshold_seconds') }}
            when 'did_not'
                then case
                    when occurrences.first_occurred_at is not null then null
                    when conditions.window_seconds is null then people.started_at
                    else people.signed_up_at
                end
            when 'inactive_for'
                then {{ journeys.add_seconds(
                    'coalesce(people.last_product_event_at, people.started_at)',
                    'conditions.threshold_seconds') }}
            -- the outcome now is accepted: since the end of the last segment before it
            -- whose outcome is not (signup when there is none)
            when 'trial_outcome'
                then case
                    when
                        (people.trial_outcome = 'in_trial' and conditions.is_in_trial)
                        or (people.trial_outcome = 'expired_trial' and conditions.is_expired_trial)
                        or (people.trial_outcome = 'churned' and conditions.is_churned)
                        or (people.trial_outcome = 'converted' and conditions.is_converted)
                        then greatest(
                            people.signed_up_at,
                            case
                                when
                                    not conditions.is_in_trial
                                    and people.in_trial_ends_at > people.signed_up_at
                                    then people.in_trial_ends_at
                                else people.signed_up_at
                            end,
                            case
                                when not conditions.is_expired_trial and people.has_expired_trial
                                    then coalesce(people.expired_trial_ends_at, people.signed_up_at)
                                else people.signed_up_at
                            end,
                            case
                                when not conditions.is_churned and people.has_churned
                                    then coalesce(people.churned_ends_at, people.signed_up_at)
                                else people.signed_up_at
                            end
                        )
                end
        end as since_at

    from people
    cross join conditions
    left join occurrences
        on
            people.person_id = occurrences.person_id
            and conditions.rule_name = occurrences.rule_name
            and conditions.condition_number = occurrences.condition_number

),

-- a person matches a rule when every condition holds now; they started to match when the
-- last of them began to hold
final as (

    select
        evaluated.rule_name,
        evaluated.person_id,
        evaluated.email,
        max(evaluated.since_at) as matched_since,
        evaluated.action

    from evaluated
    cross join data_end
    where evaluated.since_at <= data_end.data_end_at
    group by
        evaluated.rule_name,
        evaluated.action,
        evaluated.condition_count,
        evaluated.person_id,
        evaluated.email
    having count(*) = evaluated.condition_count

)

select * from final
