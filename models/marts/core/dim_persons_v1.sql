-- dim_persons version 1 (deprecated, CHANGELOG.md): version 2's rows and columns with
-- first_touch_source as it was before it became one normalised channel, for queries
-- written against version 1. Built from version 2, so both versions always describe
-- the same persons with the same first touch.

with persons as (

    select * from {{ ref('dim_persons', v=2) }}

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
        trial_outcome,
        -- version 1's meaning: the touch's raw utm_source, else its raw referring domain
        coalesce(utm_source, initial_referring_domain) as first_touch_source,
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

    from persons

)

select * from final
