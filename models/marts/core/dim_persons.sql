{#-
    One row per person (SEMANTICS.md, Identity): every app user, every anonymous visitor,
    every CRM lead who never signed up. A contested node (an id tied between app users)
    is a person only while something stays with it: events never split to a user, or
    other nodes of its component.
-#}

with

resolved as (

    select * from {{ ref('int_identity__nodes_resolved') }}

),

events as (

    select * from {{ ref('int_events__unified') }}

),

users as (

    select * from {{ ref('stg_app__users') }}

),

hubspot_contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

hubspot_companies as (

    select * from {{ ref('stg_hubspot__companies') }}

),

hubspot_associations as (

    select * from {{ ref('stg_hubspot__associations') }}

),

conversation_contacts as (

    select * from {{ ref('stg_intercom__conversation_contacts') }}

),

persons as (

    select person_id from resolved
    where resolution <> 'contested'

    union

    select person_id from events

),

activity as (

    select
        person_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        min(case when event_name = 'signed_up' then occurred_at end) as first_signed_up_at,
        count(*) as lifetime_events

    from events
    group by person_id

),

-- the person's ids: their distinct_id nodes, and the ids their events were sent under
-- (an anonymous id split by time between two users counts for both)
distinct_ids as (

    select
        person_id,
        count(distinct distinct_id) as distinct_ids

    from (
        select
            person_id,
            node_value as distinct_id
        from resolved
        where node_kind = 'distinct_id' and resolution <> 'contested'

        union

        select
            person_id,
            distinct_id
        from events
        where distinct_id is not null
    ) as ids
    group by person_id

),

-- an email for persons without an app user: the smallest normalised email node
emails as (

    select
        person_id,
        min(node_value) as email

    from resolved
    where node_kind = 'email'
    group by person_id

),

-- first touch as one set, from the earliest event (by time, then id) carrying a
-- referring domain or any utm value; later touches never overwrite it ($set_once)
touches as (

    select
        person_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        row_number() over (
            partition by person_id order by occurred_at, event_id
        ) as touch_rank

    from events
    where
        referring_domain is not null
        or utm_source is not null
        or utm_medium is not null
        or utm_campaign is not null

),

first_touch as (

    select
        person_id,
        coalesce(utm_source, referring_domain) as first_touch_source,
        utm_source,
        utm_medium,
        utm_campaign,
        referring_domain as initial_referring_domain

    from touches
    where touch_rank = 1

),

-- the person's HubSpot contact (the most recently updated when several) and its
-- company: the primary association, else the contact's `associatedcompanyid`
hubspot as (

    select
        resolved.person_id,
        hubspot_contacts.hubspot_contact_id,
        hubspot_contacts.lifecycle_stage,
        coalesce(
            primary_company.to_id, hubspot_contacts.associated_company_id
        ) as hubspot_company_id,
        row_number() over (
            partition by resolved.person_id
            order by
                hubspot_contacts.updated_at desc nulls last,
                hubspot_contacts.hubspot_contact_id asc
        ) as contact_rank

    from resolved
    inner join hubspot_contacts
        on resolved.node_value = hubspot_contacts.hubspot_contact_id
    left join hubspot_associations as primary_company
        on
            hubspot_contacts.hubspot_contact_id = primary_company.from_id
            and primary_company.from_object_type = 'contact'
            and primary_company.to_object_type = 'company'
            and primary_company.is_primary
    where resolved.node_kind = 'hubspot'

),

hubspot_contact as (

    select
        hubspot.person_id,
        hubspot.hubspot_contact_id,
        hubspot.lifecycle_stage as hubspot_lifecycle_stage,
        hubspot.hubspot_company_id,
        hubspot_companies.company_name as hubspot_company_name

    from hubspot
    left join hubspot_companies
        on hubspot.hubspot_company_id = hubspot_companies.hubspot_company_id
    where hubspot.contact_rank = 1

),

intercom as (

    select
        resolved.person_id,
        count(distinct conversation_contacts.intercom_conversation_id)
            as intercom_conversations

    from resolved
    inner join conversation_contacts
        on resolved.node_value = conversation_contacts.intercom_contact_id
    where resolved.node_kind = 'intercom'
    group by resolved.person_id

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

joined as (

    select
        persons.person_id,
        users.user_id as app_user_id,
        coalesce(users.email, emails.email) as email,
        coalesce(distinct_ids.distinct_ids, 0) as distinct_ids,
        coalesce(users.signed_up_at, activity.first_signed_up_at) as signed_up_at,
        users.plan,
        users.converted_at,
        users.churned_at,
        coalesce(users.is_churned, false) as is_churned,
        first_touch.first_touch_source,
        first_touch.utm_source,
        first_touch.utm_medium,
        first_touch.utm_campaign,
        first_touch.initial_referring_domain,
        hubspot_contact.hubspot_contact_id,
        hubspot_contact.hubspot_lifecycle_stage,
        hubspot_contact.hubspot_company_id,
        hubspot_contact.hubspot_company_name,
        coalesce(intercom.intercom_conversations, 0) as intercom_conversations,
        activity.first_seen_at,
        activity.last_seen_at,
        coalesce(activity.lifetime_events, 0) as lifetime_events,
        data_end.data_end_at

    from persons
    cross join data_end
    left join users on persons.person_id = users.user_id
    left join activity on persons.person_id = activity.person_id
    left join distinct_ids on persons.person_id = distinct_ids.person_id
    left join emails on persons.person_id = emails.person_id
    left join first_touch on persons.person_id = first_touch.person_id
    left join hubspot_contact on persons.person_id = hubspot_contact.person_id
    left join intercom on persons.person_id = intercom.person_id

),

final as (

    select
        person_id,
        app_user_id,
        email,
        distinct_ids,
        signed_up_at,
        plan,
        converted_at,
        churned_at,
        case
            when signed_up_at is null then null
            when converted_at is not null then 'converted'
            when is_churned or churned_at is not null then 'churned'
            when
                {{ dbt.dateadd('day', var('trial_days') | int, 'signed_up_at') }}
                > data_end_at
                then 'in_trial'
            else 'expired_trial'
        end as trial_outcome,
        first_touch_source,
        utm_source,
        utm_medium,
        utm_campaign,
        initial_referring_domain,
        hubspot_contact_id,
        hubspot_lifecycle_stage,
        hubspot_company_id,
        hubspot_company_name,
        intercom_conversations,
        first_seen_at,
        last_seen_at,
        lifetime_events

    from joined

)

select * from final
