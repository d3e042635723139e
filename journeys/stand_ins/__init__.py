"""Local stand-ins for the SaaS APIs (HubSpot, Intercom, PostHog's query API and its
capture endpoint, which receives the PostHog SDK's batches for journeys.track's tests).

Each is a real HTTP server on 127.0.0.1 answering with the vendor's documented JSON
shapes, pagination, rate-limit and error bodies (SOURCES.md), over a dataset it is
given (e.g. the generator's list-API pages). The demo runs the real pipelines against
them, since it has no credentials; the tests use them to inject faults.
"""
