{#-
    One row per person (SEMANTICS.md, Identity): every app user, every anonymous visitor,
    every CRM lead who never signed up. A contested node (an id tied between app users)
    is a person only while something stays with it: events never split to a user, or
    other nodes of its component.
-#}

{#- a row is a touch when it carries a referring domain or any utm value (blank is none) -#}
{%- set has_a_touch -%}
    (
        trim(referring_domain) <> ''
        or trim(utm_source) <> ''
        or trim(utm_medium) <> ''
        or trim(utm_campaign) <> ''
    )
{%- endset %}

with

resolved as (

    select * from {{ ref('int_identity__nodes_resolved') }}

),

events as (

    select * from {{ ref('int_events__unified') }}

),

-- app events' properties, read on their own: an engine may materialise `events` (read
-- several times), and only app events' properties are needed (first-touch fallback)
app_event_properties as (

    select
        person_id,
        event_id,
        occurred_at,
        properties

    from {{ ref('int_events__unified') }}
    where source = 'app'

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

-- PostHog copies of app events (sent from both sides): not counted again
paired as (

    select event_id from {{ ref('int_events__paired') }}

),

-- referring domain (or domain suffix) -> source, owned by people (seeds/)
referrer_sources as (

    select
        lower(trim(referrer_domain)) as referrer_domain,
        trim(source) as source

    from {{ ref('referrer_sources') }}

),

persons as (

    select person_id from resolved
    where resolution <> 'contested'

    union

    select person_id from events

),

-- lifetime_events counts real occurrences: a PostHog copy of an app event is not
-- counted (fct_events.is_counted); seeing and signup times read every row
activity as (

    select
        events.person_id,
        min(events.occurred_at) as first_seen_at,
        max(events.occurred_at) as last_seen_at,
        min(
            case when events.event_name = 'signed_up' then events.occurred_at end
        ) as first_signed_up_at,
        count(case when paired.event_id is null then 1 end) as lifetime_events

    from events
    left join paired on events.event_id = paired.event_id
    group by events.person_id

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

-- first touch as one set (SEMANTICS.md): the person's earliest PostHog event (by time,
-- then id) carrying a referring domain or any utm value; blank (spaces only) is absent.
-- Later touches never overwrite it ($set_once)
posthog_touches as (

    select
        person_id,
        event_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        row_number() over (
            partition by person_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
        ) as touch_rank

    from events
    where
        source = 'posthog'
        and {{ has_a_touch }}

),

-- the fallback for persons without a PostHog touch: attribution the app put in its own
-- events' properties (utm_*, `$referring_domain` / `referring_domain`), if any. Only
-- their app events are parsed
app_attribution as (

    select
        events.person_id,
        events.event_id,
        events.occurred_at,
        coalesce(
            {{ journeys.json_text('events.properties', '$referring_domain') }},
            {{ journeys.json_text('events.properties', 'referring_domain') }}
        ) as referring_domain,
        {{ journeys.json_text('events.properties', 'utm_source') }} as utm_source,
        {{ journeys.json_text('events.properties', 'utm_medium') }} as utm_medium,
        {{ journeys.json_text('events.properties', 'utm_campaign') }} as utm_campaign

    from app_event_properties as events
    left join posthog_touches
        on
            events.person_id = posthog_touches.person_id
            and posthog_touches.touch_rank = 1
    where posthog_touches.person_id is null

),

app_touches as (

    select
        person_id,
        event_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        row_number() over (
            partition by person_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
        ) as touch_rank

    from app_attribution
    where {{ has_a_touch }}

),

-- one touch per person: PostHog's when there is one, else the app's
touches as (

    select
        person_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        'posthog' as origin

    from posthog_touches
    where touch_rank = 1

    union all

    select
        person_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        'app' as origin

    from app_touches
    where touch_rank = 1

),

-- the touch's utm_source trimmed and lower-cased, and its referring domain as a host:
-- trimmed, lower-case, without a port
first_touch as (

    select
        person_id,
        origin as first_touch_origin,
        utm_source,
        utm_medium,
        utm_campaign,
        referring_domain as initial_referring_domain,
        nullif(lower({{ journeys.trim_unicode('utm_source') }}), '') as normalised_utm_source,
        nullif(
            lower(split_part({{ journeys.trim_unicode('referring_domain') }}, ':', 1)), ''
        ) as referring_host

    from touches

),

-- the referrer_sources entries the host is or ends in ('.' + entry), so www., m., l. and
-- any other subdomain map with their domain; the longest (most specific) entry wins
host_sources as (

    select
        first_touch.person_id,
        referrer_sources.source,
        row_number() over (
            partition by first_touch.person_id
            order by length(referrer_sources.referrer_domain) desc
        ) as match_rank

    from first_touch
    inner join referrer_sources
        on
            first_touch.referring_host = referrer_sources.referrer_domain
            or right(first_touch.referring_host, length(referrer_sources.referrer_domain) + 1)
            = '.' || referrer_sources.referrer_domain

),

-- one normalised source: the utm_source when there is one, else the referring domain's:
-- `$direct` is direct, a mapped domain its source, any other domain itself without a
-- leading `www.` or `m.`
first_touch_sourced as (

    select
        first_touch.person_id,
        first_touch.first_touch_origin,
        first_touch.utm_source,
        first_touch.utm_medium,
        first_touch.utm_campaign,
        first_touch.initial_referring_domain,
        coalesce(
            first_touch.normalised_utm_source,
            case
                when first_touch.referring_host = '$direct' then 'direct'
                when host_sources.source is not null then host_sources.source
                when substring(first_touch.referring_host, 1, 4) = 'www.'
                    then substring(first_touch.referring_host, 5)
                when substring(first_touch.referring_host, 1, 2) = 'm.'
                    then substring(first_touch.referring_host, 3)
                else first_touch.referring_host
            end
        ) as first_touch_source

    from first_touch
    left join host_sources
        on
            first_touch.person_id = host_sources.person_id
            and host_sources.match_rank = 1

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
        first_touch.first_touch_origin,
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
    left join first_touch_sourced as first_touch
        on persons.person_id = first_touch.person_id
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
        first_touch_origin,
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
