{#- First version of identity: an app user's own id maps to itself, and an anonymous
    distinct_id maps to the app user it was `$identify`-ed as. The full identity graph
    (aliases, emails, CRM ids, shared devices split by time) replaces this later. -#}

with

users as (

    select user_id from {{ ref('stg_app__users') }}

),

identifies as (

    select
        anon_distinct_id,
        distinct_id as identified_id,
        occurred_at,
        event_id

    from {{ ref('stg_posthog__events') }}
    where event_name = '$identify' and anon_distinct_id is not null

),

-- an anonymous id identified as two users goes to the first one for now
anon_links as (

    select
        identifies.anon_distinct_id as distinct_id,
        users.user_id,
        row_number() over (
            partition by identifies.anon_distinct_id
            order by identifies.occurred_at, identifies.event_id
        ) as link_rank

    from identifies
    inner join users on identifies.identified_id = users.user_id

),

final as (

    select
        user_id as distinct_id,
        user_id

    from users

    union all

    select
        anon_links.distinct_id,
        anon_links.user_id

    from anon_links
    left join users on anon_links.distinct_id = users.user_id
    where anon_links.link_rank = 1 and users.user_id is null

)

select * from final
