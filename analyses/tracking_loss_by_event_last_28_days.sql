-- Example analyst query: which events lose the most client-side tracking over the last
-- 28 days of data (fct_tracking_loss): per event sent from both sides, the app's server
-- events (the truth) against PostHog's client events, and the share lost. Summing the
-- counts before dividing weighs each day by its volume; days where the client sent more
-- than the server (copies across midnight) wash out in the sum.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_tracking_loss in place of the ref.
with

loss as (

    select * from {{ ref('fct_tracking_loss') }}

),

last_day as (

    select max(event_date) as last_date
    from loss

),

recent as (

    select
        loss.event_name,
        loss.plan_side,
        sum(loss.server_events) as server_events,
        sum(loss.client_events) as client_events,
        count(case when loss.is_client_excess then 1 end) as days_with_client_excess

    from loss
    cross join last_day
    where loss.event_date > last_day.last_date - 28
    group by loss.event_name, loss.plan_side

),

final as (

    select
        event_name,
        plan_side,
        server_events,
        client_events,
        days_with_client_excess,
        case
            when server_events > 0
                then cast(
                    100.0 * (server_events - client_events) / server_events as decimal(5, 1)
                )
        end as loss_percent

    from recent

)

select * from final
order by loss_percent desc nulls last, event_name asc
