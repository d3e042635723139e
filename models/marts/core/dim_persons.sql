with

users as (

    select * from {{ ref('stg_app__users') }}

),

events as (

    select * from {{ ref('fct_events') }}

),

activity as (

    select
        person_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as lifetime_events

    from events
    group by person_id

),

-- the data's end: the latest moment anything happened (events or account changes),
-- so a rebuild on the same data gives the same outcomes whatever the wall clock says
data_end as (

    select max(happened_at) as data_end_at
    from (
        select max(occurred_at) as happened_at from events
        union all
        select max(signed_up_at) from users
        union all
        select max(converted_at) from users
        union all
        select max(churned_at) from users
    ) as moments

),

final as (

    select
        users.user_id as person_id,
        users.user_id as app_user_id,
        users.email,
        users.plan,
        users.signed_up_at,
        users.converted_at,
        users.churned_at,
        activity.first_seen_at,
        activity.last_seen_at,
        coalesce(activity.lifetime_events, 0) as lifetime_events,
        case
            when users.converted_at is not null then 'converted'
            when users.is_churned or users.churned_at is not null then 'churned'
            when
                {{ dbt.dateadd('day', var('trial_days'), 'users.signed_up_at') }}
                > data_end.data_end_at
                then 'in_trial'
            else 'expired_trial'
        end as trial_outcome

    from users
    cross join data_end
    left join activity on users.user_id = activity.person_id

)

select * from final
