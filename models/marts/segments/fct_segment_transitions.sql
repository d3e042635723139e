{#-
    How many persons moved from one segment to another each week (docs/segments.md): per
    week of fct_segment_history and pair (segment the previous week, segment this week),
    the persons. A person's first week comes from `(new)`. Staying in a segment is a pair
    too (champion -> champion), so a week's rows add up to its population.
-#}

with

history as (

    select * from {{ ref('fct_segment_history') }}

),

-- a person's weeks are consecutive (one row each from the first to the as-of week), so
-- the previous row is the previous week
moves as (

    select
        week,
        coalesce(
            lag(segment) over (partition by person_id order by week), '(new)'
        ) as from_segment,
        segment as to_segment

    from history

),

final as (

    select
        week,
        from_segment,
        to_segment,
        count(*) as persons

    from moves
    group by week, from_segment, to_segment

)

select * from final
