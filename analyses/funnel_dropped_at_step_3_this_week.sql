-- Who entered the activation funnel in the data's last week and stopped after step 2
-- (never reached step 3 in a window-long attempt), with their emails: the list a
-- customer-success team works through. Persons still inside their 14-day window may yet
-- reach step 3; `days_left_in_window` says how long they have.
-- `dbt compile --select funnel_dropped_at_step_3_this_week`, then run the compiled SQL.

with

funnel as (

    select * from {{ ref('fct_funnel_persons') }}
    where funnel_name = 'activation'

),

last_week as (

    select
        max(entered_at) as latest,
        max(entered_at) - interval 7 day as since
    from funnel

)

select
    persons.email,
    funnel.person_id,
    funnel.entered_at,
    funnel.step_2_at,
    14 - date_diff('day', funnel.entered_at, last_week.latest) as days_left_in_window
from funnel
inner join {{ ref('dim_persons') }} as persons on funnel.person_id = persons.person_id
cross join last_week
where
    funnel.furthest_step = 2
    and funnel.entered_at >= last_week.since
order by funnel.entered_at desc
