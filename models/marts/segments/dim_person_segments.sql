{#-
    SEMANTICS.md's segments as of one day (docs/segments.md): one row per person of the
    population (signed up or used the product by the as-of day) with their segment as of
    var as_of_date (default: the last day in the data). It is fct_segment_history's row
    for the as-of week, whose evaluation day is the as-of day, so the two never disagree.
-#}

with

history as (

    select * from {{ ref('fct_segment_history') }}

),

-- the as-of week's rows: the only ones evaluated on the as-of day itself (every earlier
-- week ends on a Sunday before the as-of week's Monday)
final as (

    select
        person_id,
        as_of_date,
        segment,
        lifetime_events,
        events_last_30d,
        days_since_active

    from history
    where as_of_date = (select max(latest.as_of_date) from history as latest)

)

select * from final
