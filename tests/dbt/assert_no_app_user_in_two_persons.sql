-- Identity invariant (SEMANTICS.md): every app user is exactly one person, named by its
-- own id, and no person holds two app users. Returns the users that break it.
with

users as (

    select user_id from {{ ref('stg_app__users') }}

),

resolved as (

    select * from {{ ref('int_identity__nodes_resolved') }}

),

event_persons as (

    select distinct
        distinct_id,
        person_id

    from {{ ref('fct_events') }}
    where source = 'app'

),

-- the user's own node must be its person
own_node as (

    select
        users.user_id,
        resolved.person_id

    from users
    left join resolved on 'distinct_id:' || users.user_id = resolved.node_key

),

-- its server events must all carry that person
split_events as (

    select distinct event_persons.distinct_id as user_id

    from event_persons
    inner join users on event_persons.distinct_id = users.user_id
    where event_persons.person_id <> users.user_id

)

select
    user_id,
    'not its own person' as problem

from own_node
where person_id is null or person_id <> user_id

union all

select
    user_id,
    'server events in another person' as problem

from split_events
