-- an app event has at most one PostHog copy per capture library (int_events__paired):
-- two browser copies never both pair with one server event
select
    server_event_id,
    capture_library,
    count(*) as copies

from {{ ref('int_events__paired') }}
group by server_event_id, capture_library
having count(*) > 1
