"""Planted truths, measured on the rows actually written (not on the planted
probabilities), so the marts can be checked against exact counts.

Definitions follow SEMANTICS.md; each section of truth.json says what it counted.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeys.generator import catalog as cat
from journeys.generator import simulate as sim

# Journeys (truth.json `journeys`): app users' first steps after signup and last steps
# before conversion or churn, read from the app's server rows alone. The marts read them
# so with var journey_excluded_events set to JOURNEY_EXCLUDED (every event PostHog alone
# sends) and journey_steps to JOURNEY_STEPS.
JOURNEY_STEPS = 4
JOURNEY_EXCLUDED = tuple(e.name for e in cat.EVENT_TYPES if e.side == "client")
JOURNEY_SEPARATOR = " → "
JOURNEY_END = "(end)"
ACTIVATION_PATH = JOURNEY_SEPARATOR.join(name for name, _ in cat.ACTIVATION_STEPS)
_NOT_A_STEP = np.array([name in JOURNEY_EXCLUDED for name in cat.NAMES])
# at one instant: signed_up first, then the other names in byte order
_RANK_IN_INSTANT = np.empty(len(cat.NAMES), np.int64)
_RANK_IN_INSTANT[
    sorted(range(len(cat.NAMES)), key=lambda i: (cat.NAMES[i] != "signed_up",
                                                 cat.NAMES[i].encode()))
] = np.arange(len(cat.NAMES))


def _collapsed(names: list[str]) -> list[str]:
    """The names with each run of one name kept once."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def _server_journeys(
    signup: np.ndarray,
    decided: np.ndarray,
    actor: np.ndarray,
    us: np.ndarray,
    code: np.ndarray,
) -> tuple[list[str], list[str | None]]:
    """Per user of a chunk: the path of their first JOURNEY_STEPS steps (the signup, then
    their server rows at or after it, not in JOURNEY_EXCLUDED, in time order, repeats
    collapsed; `(end)` after fewer), and of their last JOURNEY_STEPS steps before
    `decided` (conversion or churn: rows strictly before it, the signup at or before it;
    None without a decision)."""
    keep = ~_NOT_A_STEP[code] & (us >= signup[actor])
    actor, us, code = actor[keep], us[keep], code[keep]
    order = np.lexsort((_RANK_IN_INSTANT[code], us, actor))
    actor, us, code = actor[order], us[order], code[order]
    bounds = np.searchsorted(actor, np.arange(len(signup) + 1))
    first: list[str] = []
    before: list[str | None] = []
    for user in range(len(signup)):
        rows = slice(bounds[user], bounds[user + 1])
        names = ["signed_up", *(cat.NAMES[c] for c in code[rows])]
        steps = _collapsed(names)[:JOURNEY_STEPS]
        if len(steps) < JOURNEY_STEPS:
            steps.append(JOURNEY_END)
        first.append(JOURNEY_SEPARATOR.join(steps))
        if decided[user] >= sim.NEVER or signup[user] > decided[user]:
            before.append(None)
            continue
        earlier = int(np.searchsorted(us[rows], decided[user], side="left"))
        before.append(JOURNEY_SEPARATOR.join(_collapsed(names[: 1 + earlier])[-JOURNEY_STEPS:]))
    return first, before


def _date(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).date().isoformat()


def _day(number: int) -> str:
    """The date of a day number (days since 1970-01-01)."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(number))).isoformat()


# Lifecycle statuses (truth.json `lifecycle`, fct_lifecycle), in this order
LIFECYCLE = ("new", "returning", "resurrecting", "dormant")
# DAU, WAU and MAU windows, in days (fct_daily_metrics)
ACTIVITY_WINDOWS = {"dau": 1, "wau": 7, "mau": 30}
# the default rules of var intervention_triggers (dbt_project.yml), their thresholds
STUCK_AFTER = 72 * sim.HOUR
QUIET_AFTER = 5 * sim.DAY
UPGRADE_VIEW_AGO = 3 * sim.DAY


class Truth:
    def __init__(self, plan: sim.Plan):
        self.plan = plan
        n_codes = len(cat.EVENT_TYPES)
        self.server_by_code = np.zeros(n_codes, np.int64)
        self.client_by_code = np.zeros(n_codes, np.int64)
        self.visitors_seen = 0
        self.visitors = 0
        self.max_event_us = 0
        # per user, appended per chunk
        self.user_id: list[np.ndarray] = []
        self.signup: list[np.ndarray] = []
        self.converted: list[np.ndarray] = []
        self.churned: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []
        self.invited_early: list[np.ndarray] = []
        self.lifetime_events: list[np.ndarray] = []
        self.last_event: list[np.ndarray] = []
        # product use (segments): each occurrence once, PostHog's `$` events left out
        self.product_events: list[np.ndarray] = []
        self.last_product_event: list[np.ndarray] = []
        self.two_device_users: list[int] = []
        self.two_device_tracked: list[int] = []
        self.journey_first: list[str] = []
        self.journey_before: list[str | None] = []
        # activity (lifecycle, daily metrics) on a calendar of days from a Monday before
        # anything can happen (visitors browse from two weeks before the first signup
        # week) to 31 days after the data's end (room for the windows' last changes)
        self.first_day = (plan.start_us - 3 * sim.WEEK) // sim.DAY
        self.first_day -= (self.first_day - 4) % 7  # day 4 (1970-01-05) was a Monday
        self.n_days = plan.end_us // sim.DAY + 32 - self.first_day
        self.n_weeks = -(-self.n_days // 7)
        self.min_event_us = sim.NEVER
        self.actors_active = 0
        self.visitors_active = 0
        # per lifecycle status and week (week 0 holds first_day): persons
        self.lifecycle = np.zeros((len(LIFECYCLE), self.n_weeks), np.int64)
        # per window (ACTIVITY_WINDOWS) and day: persons entering minus persons leaving it
        self.window_changes = np.zeros((len(ACTIVITY_WINDOWS), self.n_days), np.int64)
        # intervention triggers: per user whether they have a counted first_item_created,
        # and the earliest upgrade page view no plan_upgraded followed (NEVER: none);
        # visitors' such views
        self.has_first_item: list[np.ndarray] = []
        self.open_upgrade_view: list[np.ndarray] = []
        self.visitor_open_upgrade_views: list[np.ndarray] = []

    def add_chunk(
        self,
        chunk: sim.Chunk,
        client_actor: np.ndarray,
        client: pa.Table,
        server: pa.Table,
        server_idx: np.ndarray,
    ) -> np.ndarray:
        """Record a chunk; returns each user's last event time (for the CRM writer)."""
        n = chunk.n_users
        client_us = client.column("timestamp").cast(pa.int64()).to_numpy()
        server_us = server.column("created_at").cast(pa.int64()).to_numpy() * 1000
        server_code = chunk.a_code[server_idx]
        server_actor = chunk.a_actor[server_idx]
        client_code = _codes(client)
        np.add.at(self.server_by_code, server_code, 1)
        np.add.at(self.client_by_code, client_code, 1)
        if len(client_us):
            self.max_event_us = max(self.max_event_us, int(client_us.max()))
        if len(server_us):
            self.max_event_us = max(self.max_event_us, int(server_us.max()))
        for stamps in (client_us, server_us, chunk.signup_us):
            if len(stamps):
                self.min_event_us = min(self.min_event_us, int(stamps.min()))

        # lifetime events and last event per user, over PostHog + app rows
        is_user = client_actor < n
        lifetime = np.bincount(client_actor[is_user], minlength=n) + np.bincount(
            server_actor, minlength=n
        )
        last = np.zeros(n, np.int64)
        np.maximum.at(last, client_actor[is_user], client_us[is_user])
        np.maximum.at(last, server_actor, server_us)
        self.lifetime_events.append(lifetime)
        self.last_event.append(last)

        # product events per user (SEMANTICS.md Segments, docs/segments.md): every app
        # row (the server side is the truth; no app event name starts with `$`) and the
        # PostHog rows of client-only events that are not PostHog's own `$` events. A
        # PostHog row of an event sent from both sides is a copy of an app row: not
        # counted again (fct_events.is_counted)
        product_client = is_user & PRODUCT_CLIENT_CODE[client_code]
        product = np.bincount(client_actor[product_client], minlength=n) + np.bincount(
            server_actor, minlength=n
        )
        last_product = np.zeros(n, np.int64)
        np.maximum.at(last_product, client_actor[product_client], client_us[product_client])
        np.maximum.at(last_product, server_actor, server_us)
        self.product_events.append(product)
        self.last_product_event.append(last_product)

        # product use of every actor, app users and anonymous visitors alike (lifecycle,
        # daily metrics): the same rows, visitors' PostHog rows included
        every_product_client = PRODUCT_CLIENT_CODE[client_code]
        self._add_activity(
            np.concatenate([client_actor[every_product_client], server_actor]),
            np.concatenate([client_us[every_product_client], server_us]),
            n,
        )
        self._add_trigger_facts(chunk, client_actor, client_us, client_code, server_actor,
                                server_us, server_code)

        visitors_with_rows = np.unique(client_actor[~is_user])
        self.visitors += chunk.n_actors - n
        self.visitors_seen += len(visitors_with_rows)

        # activation steps from the server rows: signed_up, workspace_created,
        # first_item_created with item_type=project, onboarding_completed
        steps = np.full((n, len(cat.ACTIVATION_STEPS)), sim.NEVER, np.int64)
        value = chunk.a_value[server_idx]
        for k, (name, where) in enumerate(cat.ACTIVATION_STEPS):
            match = server_code == cat.CODE[name]
            if where:
                match &= value == 0  # item_type value 0 is "project" (catalog order)
            np.minimum.at(steps[:, k], server_actor[match], server_us[match])
        self.steps.append(steps)

        invited = server_code == cat.CODE["team_member_invited"]
        within = server_us[invited] - chunk.signup_us[server_actor[invited]]
        early = np.zeros(n, bool)
        early[server_actor[invited][within <= sim.INVITE_WINDOW_DAYS * sim.DAY]] = True
        self.invited_early.append(early)

        decided = np.where(chunk.converted_us < sim.NEVER, chunk.converted_us, chunk.churned_us)
        first, before = _server_journeys(
            chunk.signup_us, decided, server_actor, server_us, server_code
        )
        self.journey_first += first
        self.journey_before += before

        self.user_id.append(chunk.user_id)
        self.signup.append(chunk.signup_us)
        self.converted.append(chunk.converted_us)
        self.churned.append(chunk.churned_us)
        used = chunk.device_used[:n]
        tracked = used & ~chunk.blocked[:n]
        two = used[:, 1]
        self.two_device_users += chunk.user_id[two].tolist()
        self.two_device_tracked += chunk.user_id[two & tracked[:, 0] & tracked[:, 1]].tolist()
        return last

    def _add_activity(self, actor: np.ndarray, us: np.ndarray, n_users: int) -> None:
        """Record a chunk's product events (actor, instant): each actor's distinct active
        weeks, labelled with their lifecycle status, and distinct active days, as changes
        of the DAU / WAU / MAU windows. Actors do not span chunks, so a chunk's actors are
        complete here."""
        day = us // sim.DAY - self.first_day
        if len(day) and (day.min() < 0 or day.max() >= self.n_days - 31):
            raise ValueError("a product event lies outside the truth's calendar")
        self.actors_active += len(np.unique(actor))
        self.visitors_active += len(np.unique(actor[actor >= n_users]))

        # weeks: new (the actor's first), returning (the week before active too),
        # resurrecting (else); dormant the week after an active week not followed by one
        who, week = np.divmod(np.unique(actor * self.n_weeks + day // 7), self.n_weeks)
        same_before = np.r_[False, who[1:] == who[:-1]]
        same_after = np.r_[who[1:] == who[:-1], False]
        week_before = np.r_[-1, week[:-1]]
        week_after = np.r_[week[1:], -1]
        status = np.where(~same_before, 0, np.where(week_before == week - 1, 1, 2))
        gap_after = ~same_after | (week_after > week + 1)
        self.lifecycle += np.bincount(
            np.r_[status * self.n_weeks + week, 3 * self.n_weeks + week[gap_after] + 1],
            minlength=self.lifecycle.size,
        ).reshape(self.lifecycle.shape)

        # days: an active day covers the days up to the actor's next active day, at most
        # the window's width: +1 on the day, -1 on the day the cover ends
        who, day = np.divmod(np.unique(actor * self.n_days + day), self.n_days)
        same_after = np.r_[who[1:] == who[:-1], False]
        next_day = np.r_[day[1:], 0]
        for k, width in enumerate(ACTIVITY_WINDOWS.values()):
            end = np.where(same_after, np.minimum(next_day, day + width), day + width)
            self.window_changes[k] += np.bincount(day, minlength=self.n_days) - np.bincount(
                end, minlength=self.n_days
            )

    def _add_trigger_facts(
        self,
        chunk: sim.Chunk,
        client_actor: np.ndarray,
        client_us: np.ndarray,
        client_code: np.ndarray,
        server_actor: np.ndarray,
        server_us: np.ndarray,
        server_code: np.ndarray,
    ) -> None:
        """What the default intervention triggers need beyond signups, outcomes and the
        last product event: a counted first_item_created (an app row, or a PostHog one:
        any source), and the earliest upgrade page view (client-only: every PostHog row is
        counted) with no counted plan_upgraded (the app's rows; PostHog's are copies) at
        or after it."""
        n = chunk.n_users
        item = cat.CODE["first_item_created"]
        has_item = np.zeros(n, bool)
        has_item[server_actor[server_code == item]] = True
        client_item = (client_code == item) & (client_actor < n)
        has_item[client_actor[client_item]] = True
        self.has_first_item.append(has_item)

        upgraded = server_code == cat.CODE["plan_upgraded"]
        last_upgrade = np.full(chunk.n_actors, -1, np.int64)
        np.maximum.at(last_upgrade, server_actor[upgraded], server_us[upgraded])
        view = (client_code == cat.CODE["upgrade_page_viewed"]) & (
            client_us > last_upgrade[client_actor]
        )
        open_view = np.full(chunk.n_actors, sim.NEVER, np.int64)
        np.minimum.at(open_view, client_actor[view], client_us[view])
        self.open_upgrade_view.append(open_view[:n])
        visitors = open_view[n:]
        self.visitor_open_upgrade_views.append(visitors[visitors < sim.NEVER])

    # -- the report --------------------------------------------------------------
    def report(
        self,
        *,
        crm_only_leads: int,
        posthog_rows: int,
        posthog_duplicates: int,
        crm_counts: dict[str, int],
        app_events: int,
    ) -> dict:
        user_id = np.concatenate(self.user_id)
        signup = np.concatenate(self.signup)
        converted = np.concatenate(self.converted) < sim.NEVER
        churned_at = np.concatenate(self.churned)
        churned = churned_at < sim.NEVER
        data_end = self.max_event_us
        trial_ended = signup + sim.TRIAL_DAYS * sim.DAY <= data_end
        users = len(user_id)
        return {
            "definitions": {
                "data_end": "latest event timestamp over PostHog export rows and app events",
                "population": "app users unless a section says otherwise",
            },
            "seed": self.plan.seed,
            "users": users,
            "start": _date(self.plan.start_us),
            "end_exclusive": _date(self.plan.end_us),
            "data_end": dt.datetime.fromtimestamp(data_end / 1e6, dt.UTC).isoformat(),
            "planted": {
                "p_two_devices": sim.P_TWO_DEVICES,
                "p_ad_blocker": sim.P_AD_BLOCKER,
                "p_convert_with_invite": sim.P_CONVERT_WITH_INVITE,
                "p_convert_without_invite": sim.P_CONVERT_WITHOUT_INVITE,
                "funnel_step_probabilities": [
                    1.0,
                    sim.P_WORKSPACE,
                    sim.P_FIRST_ITEM * sim.P_ITEM_IS_PROJECT,
                    sim.P_ONBOARDING_DONE,
                ],
            },
            "humans": {
                "total": users + self.visitors_seen + crm_only_leads,
                "app_users": users,
                "anonymous_visitors_with_events": self.visitors_seen,
                "anonymous_visitors_simulated": self.visitors,
                "crm_only_leads": crm_only_leads,
            },
            "two_device_users": {
                "count": len(self.two_device_users),
                "both_devices_tracked": len(self.two_device_tracked),
                "user_ids": self.two_device_users,
            },
            "rows": {
                "posthog_export_rows": posthog_rows,
                "posthog_unique_events": posthog_rows - posthog_duplicates,
                "posthog_duplicate_rows": posthog_duplicates,
                "app_users": users,
                "app_events": app_events,
                **crm_counts,
            },
            "activation_funnel": self._funnel(),
            "cohorts": self._cohorts(signup),
            "invite_conversion": self._invite(converted, trial_ended),
            "conversion_drivers": self._drivers(converted, churned, trial_ended),
            "tracking_loss": self._tracking_loss(),
            "trial_outcomes": {
                "converted": int(converted.sum()),
                "churned": int((churned & ~converted).sum()),
                "in_trial": int((~trial_ended & ~converted & ~churned).sum()),
                "expired_trial": int((trial_ended & ~converted & ~churned).sum()),
            },
            "segments": self._segments(churned, data_end),
            "journeys": self._journeys(converted, churned, trial_ended),
            "lifecycle": self._lifecycle(data_end),
            "intervention_triggers": self._intervention_triggers(
                user_id, signup, converted, churned, data_end
            ),
            "daily_metrics": self._daily_metrics(
                signup, np.concatenate(self.converted), churned_at, data_end
            ),
        }

    def _funnel(self) -> dict:
        steps = np.concatenate(self.steps)
        window = sim.FUNNEL_WINDOW_DAYS * sim.DAY
        start = steps[:, 0]
        reached = np.zeros(steps.shape, bool)
        reached[:, 0] = start < sim.NEVER
        previous = start.copy()
        for k in range(1, steps.shape[1]):
            ok = reached[:, k - 1] & (steps[:, k] >= previous) & (steps[:, k] - start <= window)
            reached[:, k] = ok
            previous = np.where(ok, steps[:, k], sim.NEVER)
        counts = reached.sum(axis=0).tolist()
        out = []
        for k, ((name, where), count) in enumerate(zip(cat.ACTIVATION_STEPS, counts, strict=True)):
            out.append(
                {
                    "step_number": k + 1,
                    "event": name,
                    "where": where,
                    "persons_reached": count,
                    "conversion_from_previous": count / counts[k - 1] if k else 1.0,
                    "persons_dropped": counts[k - 1] - count if k else 0,
                }
            )
        return {
            "name": "activation",
            "order": "ordered",
            "window_days": sim.FUNNEL_WINDOW_DAYS,
            "steps": out,
            "counted_from": "app server events (the PostHog copies only duplicate them)",
        }

    def _cohorts(self, signup: np.ndarray) -> list[dict]:
        week = (signup - self.plan.start_us) // sim.WEEK
        sizes = np.bincount(week, minlength=self.plan.weeks)
        return [
            {"cohort_week": _date(self.plan.start_us + i * sim.WEEK), "size": int(s)}
            for i, s in enumerate(sizes)
        ]

    def _invite(self, converted: np.ndarray, trial_ended: np.ndarray) -> dict:
        early = np.concatenate(self.invited_early)
        a = int((early & trial_ended & converted).sum())
        n_with = int((early & trial_ended).sum())
        c = int((~early & trial_ended & converted).sum())
        n_without = int((~early & trial_ended).sum())
        return {
            "behaviour_event": "team_member_invited",
            "window_days": sim.INVITE_WINDOW_DAYS,
            "population": "app users whose 14-day trial ended by data_end",
            "persons_with": n_with,
            "converted_with": a,
            "rate_with": a / n_with if n_with else None,
            "persons_without": n_without,
            "converted_without": c,
            "rate_without": c / n_without if n_without else None,
        }

    def _drivers(self, converted: np.ndarray, churned: np.ndarray,
                 trial_ended: np.ndarray) -> dict:
        """The invite effect in fct_conversion_drivers' own terms: the population is every
        user whose trial outcome is decided (converted, churned, or trial ended: not
        in_trial), where invite_conversion keeps only trials that ran their 14 days."""
        early = np.concatenate(self.invited_early)
        decided = converted | churned | trial_ended
        a = int((early & decided & converted).sum())
        n_with = int((early & decided).sum())
        c = int((~early & decided & converted).sum())
        n_without = int((~early & decided).sum())
        return {
            "behaviour_event": "team_member_invited",
            "window_days": sim.INVITE_WINDOW_DAYS,
            "population": "app users whose trial outcome is not in_trial (converted, "
            "churned, or the 14-day trial ended by data_end)",
            "behaviour": "an app (server) team_member_invited at most window_days after "
            "signup",
            "persons_with": n_with,
            "converted_with": a,
            "persons_without": n_without,
            "converted_without": c,
        }

    def _tracking_loss(self) -> dict:
        both = [i for i, e in enumerate(cat.EVENT_TYPES) if e.side == "both"]
        server = int(self.server_by_code[both].sum())
        client = int(self.client_by_code[both].sum())
        by_event = {
            cat.NAMES[i]: {
                "server": int(self.server_by_code[i]),
                "client": int(self.client_by_code[i]),
                "loss_pct": (1 - self.client_by_code[i] / self.server_by_code[i])
                if self.server_by_code[i]
                else None,
            }
            for i in both
        }
        return {
            "events": "events sent by both sides",
            "server": server,
            "client": client,
            "loss_pct": (server - client) / server if server else None,
            "by_event": by_event,
        }

    def _journeys(
        self, converted: np.ndarray, churned: np.ndarray, trial_ended: np.ndarray
    ) -> dict:
        outcome = np.select(
            [converted, churned, ~trial_ended], ["converted", "churned", "in_trial"],
            "expired_trial",
        )

        def count(paths: list[str | None]) -> tuple[dict, dict]:
            by_outcome: dict[str, dict[str, int]] = {}
            conversion: dict[str, dict[str, int]] = {}
            for path, who, ended, won in zip(paths, outcome, trial_ended, converted,
                                             strict=True):
                if path is None:
                    continue
                cell = by_outcome.setdefault(str(who), {})
                cell[path] = cell.get(path, 0) + 1
                rate = conversion.setdefault(path, {"trial_ended": 0, "converted": 0})
                rate["trial_ended"] += int(ended)
                rate["converted"] += int(ended and won)
            return by_outcome, conversion

        paths, conversion = count(self.journey_first)
        paths_before, conversion_before = count(self.journey_before)
        return {
            "population": "app users, by trial outcome (as trial_outcomes)",
            "steps": JOURNEY_STEPS,
            "excluded_events": list(JOURNEY_EXCLUDED),
            "definition": (
                "a path is the signup (signed_up) and then the user's app server rows at or "
                "after it (not in excluded_events), in time order (at one instant "
                "signed_up first, then names in byte order), consecutive repeats "
                "collapsed: the first `steps` of them, then `(end)` when fewer; "
                "paths_before: the last `steps` before converted_at (converted) or "
                "churned_at (churned), rows strictly before it"
            ),
            "separator": JOURNEY_SEPARATOR,
            "activation_path": {
                "path": ACTIVATION_PATH,
                "persons": {who: cell.get(ACTIVATION_PATH, 0) for who, cell in paths.items()},
            },
            "paths": paths,
            "path_conversion": conversion,
            "paths_before": paths_before,
            "path_before_conversion": conversion_before,
        }

    def _segments(self, churned: np.ndarray, data_end: int) -> dict:
        lifetime = np.concatenate(self.product_events)
        last = np.concatenate(self.last_product_event)
        as_of = data_end // sim.DAY
        days_since = as_of - last // sim.DAY
        names = ("churned", "champion", "power_user", "active", "at_risk", "dormant")
        rules = [
            churned,
            (lifetime >= 100) & (days_since <= 7),
            (lifetime >= 30) & (days_since <= 14),
            days_since <= 14,
            days_since <= 30,
            np.ones(len(lifetime), bool),
        ]
        segment = np.select(rules, np.arange(len(names)))
        counts = np.bincount(segment, minlength=len(names))
        total = int(counts.sum())
        return {
            "as_of_date": _date(data_end),
            "population": "app users",
            "lifetime_events": (
                "product events: app events + PostHog export events (deduplicated) of "
                "client-only events whose name does not start with `$` (a PostHog copy of "
                "an app event is not counted again); days since active from the last one"
            ),
            "churned": "churned_at before data_end, converted before or not",
            "counts": {name: int(c) for name, c in zip(names, counts, strict=True)},
            "shares": {name: c / total for name, c in zip(names, counts, strict=True)},
        }

    def _lifecycle(self, data_end: int) -> dict:
        """fct_lifecycle's weeks: from the first week with a product event to the week
        holding data_end."""
        active = self.lifecycle[:3].sum(axis=0) > 0
        last = (data_end // sim.DAY - self.first_day) // 7
        first = int(np.argmax(active)) if active.any() else last + 1
        weeks = [
            {
                "week_start": _day(self.first_day + 7 * week),
                **{status: int(self.lifecycle[k, week]) for k, status in enumerate(LIFECYCLE)},
                "is_complete": week < last,
            }
            for week in range(first, last + 1)
        ]
        return {
            "population": (
                "persons: every simulated actor, app users and anonymous visitors alike "
                "(fct_lifecycle counts every person); a visitor only browses the "
                "marketing site ($pageview, $autocapture), so is never active"
            ),
            "active": (
                "a product event in the ISO week (Monday 00:00 UTC): an app row, or a "
                "PostHog row of a client-only event whose name does not start with `$` "
                "(as segments' lifetime_events)"
            ),
            "statuses": (
                "new: first active week; returning: active the week before too; "
                "resurrecting: active before, not the week before; dormant: active the "
                "week before, not this one (once per gap)"
            ),
            "weeks_shown": "from the first week with a product event to data_end's week",
            "persons_ever_active": self.actors_active,
            "anonymous_visitors_ever_active": self.visitors_active,
            "weeks": weeks,
        }

    def _intervention_triggers(
        self,
        user_id: np.ndarray,
        signup: np.ndarray,
        converted: np.ndarray,
        churned: np.ndarray,
        data_end: int,
    ) -> dict:
        """Who matches the default rules of var intervention_triggers at data_end."""
        last_product = np.concatenate(self.last_product_event)
        open_view = np.concatenate(self.open_upgrade_view)
        visitor_views = np.concatenate(self.visitor_open_upgrade_views)
        in_trial = (signup + sim.TRIAL_DAYS * sim.DAY > data_end) & ~converted & ~churned
        matches = {
            "stuck_before_first_item": (
                "signed up at least 72 h before data_end and no first_item_created "
                "(app or PostHog row)",
                (signup + STUCK_AFTER <= data_end) & ~np.concatenate(self.has_first_item),
                0,
            ),
            "gone_quiet_in_trial": (
                "trial outcome in_trial at data_end and the last product event (as "
                "segments'; every user has one, the app's signed_up) at least 5 days "
                "before data_end",
                in_trial & (last_product + QUIET_AFTER <= data_end),
                0,
            ),
            "viewed_upgrade_not_upgraded": (
                "an upgrade_page_viewed (PostHog row) at least 3 days before data_end with "
                "no plan_upgraded (app row) at or after it",
                open_view + UPGRADE_VIEW_AGO <= data_end,
                int((visitor_views + UPGRADE_VIEW_AGO <= data_end).sum()),
            ),
        }
        return {
            "as_of": "data_end",
            "population": (
                "app users (a rule with a signup or trial condition matches nobody else); "
                "viewed_upgrade_not_upgraded also counts anonymous visitors, who never view "
                "the upgrade page here"
            ),
            "rules": {
                name: {
                    "definition": definition,
                    "app_users": int(match.sum()),
                    "anonymous_visitors": visitors,
                    "user_ids": user_id[match].tolist(),
                }
                for name, (definition, match, visitors) in matches.items()
            },
        }

    def _daily_metrics(
        self, signup: np.ndarray, converted_at: np.ndarray, churned_at: np.ndarray,
        data_end: int,
    ) -> dict:
        """fct_daily_metrics' days: from the first day with an event or signup to
        data_end's day."""
        def per_day(us: np.ndarray) -> np.ndarray:
            return np.bincount(us // sim.DAY - self.first_day, minlength=self.n_days)

        trial_end = signup + sim.TRIAL_DAYS * sim.DAY
        ended = trial_end <= data_end
        converted = converted_at < sim.NEVER
        counts = {
            "signups": per_day(signup),
            "conversions": per_day(converted_at[converted]),
            "churns": per_day(churned_at[churned_at < sim.NEVER]),
            **{name: np.cumsum(changes) for name, changes in zip(
                ACTIVITY_WINDOWS, self.window_changes, strict=True)},
            "trials_ended": per_day(trial_end[ended]),
            "trials_ended_converted": per_day(trial_end[ended & converted]),
        }
        first = self.min_event_us // sim.DAY - self.first_day
        last = data_end // sim.DAY - self.first_day
        return {
            "population": (
                "persons: app users (signups, conversions, churns, trials) and, for DAU / "
                "WAU / MAU, every simulated actor, anonymous visitors included (never "
                "active here)"
            ),
            "active": "a product event that day (as lifecycle's, by UTC day)",
            "windows_days": ACTIVITY_WINDOWS,
            "trials_ended": (
                f"app users whose trial end (signup + {sim.TRIAL_DAYS} days) falls on the "
                "day, at or before data_end; converted: of them, those who converted "
                "(converted_at set, any time)"
            ),
            "days": [
                {"metric_date": _day(self.first_day + day),
                 **{name: int(values[day]) for name, values in counts.items()}}
                for day in range(first, last + 1)
            ],
        }


# catalogue code -> a PostHog row of it is product use counted once: a client-only event
# that is not one of PostHog's own `$` events (rows of `both` events copy an app row)
PRODUCT_CLIENT_CODE = np.array(
    [e.side == "client" and not e.name.startswith("$") for e in cat.EVENT_TYPES]
)


def _codes(table: pa.Table) -> np.ndarray:
    """Catalogue code of each export row's event name."""
    names = pa.array(list(cat.NAMES))
    return pc.index_in(table.column("event"), value_set=names).to_numpy()
