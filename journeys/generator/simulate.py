"""Vectorised simulation of a B2B SaaS trial population, one chunk of users at a time.

Every behaviour is drawn for whole arrays of users at once (numpy), so the cost grows
with the number of blocks of behaviour, not with the number of events. A chunk is
simulated from its own random stream (`seed`, chunk index), so the output for a given
seed is the same whatever else runs, and memory stays bounded by the chunk size.

The people simulated:
- **users**: sign up for a 14-day trial (the app's `users` table). Before signing up
  they browse the marketing site anonymously; at signup the browser calls
  `identify` (`$identify` with `$anon_distinct_id`). About a fifth later use a second
  device, which starts anonymous and is identified at login.
- **visitors**: browse anonymously and never sign up.
- CRM-only **leads** are made by the CRM writer (they have no product events).

Planted effects (the truths the marts must recover, see `truth.py`):
- activation funnel with set per-step completion probabilities, and a few steps that
  happen only after the 14-day conversion window;
- inviting a teammate within 7 days of signup: converts at 68%, otherwise 18%;
- ad blockers: each device has a 25% chance to block posthog-js, so its client-side
  events never reach PostHog while server-side events still land in the app's table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeys.generator import catalog as cat
from journeys.generator.text import uuid7_strings

US = 1_000_000
SECOND = US
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
NEVER = np.iinfo(np.int64).max // 4  # "no such moment"; safe to add durations to

TRIAL_DAYS = 14
FUNNEL_WINDOW_DAYS = 14
INVITE_WINDOW_DAYS = 7

# Planted probabilities (documented in truth.json as `planted`).
P_TWO_DEVICES = 0.20
P_AD_BLOCKER = 0.25
P_WORKSPACE = 0.78
P_FIRST_ITEM = 0.72
P_ITEM_IS_PROJECT = 0.85
P_ONBOARDING_DONE = 0.75
P_STEP_LATE = 0.04  # a step that happens, but after the funnel window
P_INVITE_EARLY_ACTIVATED = 0.40
P_INVITE_EARLY_NOT_ACTIVATED = 0.12
P_INVITE_LATE = 0.12
P_CONVERT_WITH_INVITE = 0.68
P_CONVERT_WITHOUT_INVITE = 0.18
P_CHURN_NOT_CONVERTED = 0.35
P_CHURN_CONVERTED = 0.04
P_TRIAL_EXTENDED = 0.12
VISITORS_PER_USER = 1.0

# Pages: marketing site, app pages, then special app pages used by key moments.
PAGES: tuple[tuple[str, str], ...] = (
    tuple((cat.MARKETING_HOST, p) for p in cat.MARKETING_PAGES)
    + tuple((cat.APP_HOST, p) for p in cat.APP_PAGES)
    + ((cat.APP_HOST, "/signup"), (cat.APP_HOST, "/login"), (cat.APP_HOST, "/billing/upgrade"))
)
N_MARKETING = len(cat.MARKETING_PAGES)
N_APP = len(cat.APP_PAGES)
PAGE_SIGNUP = N_MARKETING + N_APP
PAGE_LOGIN = PAGE_SIGNUP + 1
PAGE_UPGRADE = PAGE_SIGNUP + 2

# Filler events inside a session: (event, weight)
APP_MIX = (
    ("$pageview", 0.30),
    ("$autocapture", 0.30),
    ("feature_used", 0.18),
    ("file_uploaded", 0.07),
    ("report_generated", 0.08),
    ("export_downloaded", 0.05),
    ("upgrade_page_viewed", 0.02),
)
SITE_MIX = (("$pageview", 0.6), ("$autocapture", 0.4))


@dataclass(frozen=True)
class Plan:
    """What to generate: the population size, the seed and the calendar."""

    users: int
    seed: int
    start_us: int  # Monday 00:00 UTC of the first signup week
    weeks: int = 26
    chunk_users: int = 2_500

    @property
    def end_us(self) -> int:
        """Exclusive end of the data: nothing happens at or after it."""
        return self.start_us + self.weeks * WEEK

    @property
    def chunks(self) -> int:
        return max(1, -(-self.users // self.chunk_users))


def signup_times(plan: Plan) -> np.ndarray:
    """Signup instants of all users (sorted, millisecond precision): weekly cohorts
    that grow about 4% a week with noise, weekdays busier than weekends."""
    rng = np.random.default_rng([plan.seed, 0])
    weights = (1 + 0.04 * np.arange(plan.weeks)) * rng.lognormal(0.0, 0.12, plan.weeks)
    sizes = rng.multinomial(plan.users, weights / weights.sum())
    week = np.repeat(np.arange(plan.weeks, dtype=np.int64), sizes)
    weekday = rng.choice(7, size=plan.users, p=[0.18, 0.18, 0.18, 0.17, 0.15, 0.07, 0.07])
    hour = np.clip(rng.normal(14.0, 3.5, plan.users), 0.0, 23.99)
    at = plan.start_us + week * WEEK + weekday * DAY + (hour * HOUR).astype(np.int64)
    return np.sort(at // 1000 * 1000)


@dataclass
class Chunk:
    """One chunk's simulated world. Actors 0..n_users-1 are users, the rest visitors."""

    n_users: int
    n_actors: int
    user_id: np.ndarray  # int64, n_users
    email: list[str]
    company: np.ndarray  # local company index per user
    n_companies: int
    company_domain: list[str]
    channel: np.ndarray  # per actor
    blocked: np.ndarray  # (actors, 2) bool: posthog-js blocked on that device
    device_kind: np.ndarray  # (actors, 2) index into catalog.DEVICES
    device_used: np.ndarray  # (actors, 2) bool: the device has any activity
    anon_id: list[str]  # actors*2, index actor*2+device
    person_uuid: list[str]  # PostHog person uuid first created for that device
    identify_us: np.ndarray  # (actors, 2): when the device was identified (NEVER if not)
    first_visit_us: np.ndarray  # per user: first marketing visit
    signup_us: np.ndarray
    converted_us: np.ndarray  # NEVER if not (yet) converted
    churned_us: np.ndarray
    plan: np.ndarray  # 0 trial, 1 pro, 2 team
    # sessions
    s_actor: np.ndarray
    s_device: np.ndarray
    s_start: np.ndarray
    s_uuid: pa.Array
    s_window: pa.Array
    # actions (one row per logical event; a `both` action becomes a server and a client row)
    a_actor: np.ndarray
    a_ts: np.ndarray
    a_code: np.ndarray
    a_device: np.ndarray
    a_session: np.ndarray  # -1: not in a browser session (server-only work)
    a_value: np.ndarray  # page / element / property value index, -1 none
    a_landing: np.ndarray  # bool: first pageview of a visit from the acquisition channel


class _Actions:
    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, actor, ts, code, device, session, value, landing=None) -> None:
        n = len(actor)
        if n == 0:
            return

        def full(x, dtype):
            return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()

        self.parts.append(
            (
                full(actor, np.int64),
                full(ts, np.int64),
                full(code, np.int16),
                full(device, np.int8),
                full(session, np.int64),
                full(value, np.int32),
                full(False if landing is None else landing, bool),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(7))


class _Sessions:
    def __init__(self) -> None:
        self.actor: list[np.ndarray] = []
        self.device: list[np.ndarray] = []
        self.start: list[np.ndarray] = []
        self.count = 0

    def open(self, actor, device, start) -> np.ndarray:
        actor = np.asarray(actor, dtype=np.int64)
        n = len(actor)
        self.actor.append(actor)
        self.device.append(np.broadcast_to(np.asarray(device, dtype=np.int8), (n,)).copy())
        self.start.append(np.asarray(start, dtype=np.int64))
        ids = np.arange(self.count, self.count + n, dtype=np.int64)
        self.count += n
        return ids


def _grouped_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every group (groups are consecutive runs)."""
    if len(values) == 0:
        return values
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    before = np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0)
    return total - np.repeat(before, counts)


def _mix(rng: np.random.Generator, mix, n: int) -> tuple[np.ndarray, np.ndarray]:
    codes = np.array([cat.CODE[name] for name, _ in mix], dtype=np.int16)
    weights = np.array([w for _, w in mix])
    return codes[rng.choice(len(mix), size=n, p=weights / weights.sum())], codes


class ChunkSimulator:
    def __init__(self, plan: Plan, chunk: int, signup_us: np.ndarray, first_user_no: int):
        self.plan = plan
        self.rng = np.random.default_rng([plan.seed, 1, chunk])
        self.chunk = chunk
        self.signup = signup_us
        self.first_user_no = first_user_no
        self.n_users = len(signup_us)
        self.actions = _Actions()
        self.sessions = _Sessions()

    # -- helpers ---------------------------------------------------------------
    def _u(self, low: float, high: float, n: int) -> np.ndarray:
        return self.rng.uniform(low, high, n)

    def _session_with_fillers(self, actor, device, start, fillers, mix, pages) -> np.ndarray:
        """Open sessions (landing pageview at `start`) followed by filler events."""
        rng = self.rng
        sid = self.sessions.open(actor, device, start)
        counts = np.asarray(fillers, dtype=np.int64)
        owner = np.repeat(np.arange(len(sid)), counts)
        gaps = rng.exponential(45.0, len(owner)) * SECOND + SECOND
        at = np.asarray(start, np.int64)[owner] + _grouped_cumsum(gaps, counts).astype(np.int64)
        codes, _ = _mix(rng, mix, len(owner))
        value = np.full(len(owner), -1, dtype=np.int32)
        pv = codes == cat.CODE["$pageview"]
        value[pv] = rng.choice(pages, size=int(pv.sum()))
        ac = codes == cat.CODE["$autocapture"]
        value[ac] = rng.integers(0, len(cat.ELEMENT_CHAINS), int(ac.sum()))
        other = ~(pv | ac)
        value[other] = self._prop_values(codes[other])
        actors = np.asarray(actor, np.int64)
        devices = np.broadcast_to(np.asarray(device, np.int8), (len(sid),))
        self.actions.add(actors[owner], at, codes, devices[owner], sid[owner], value)
        return sid

    def _prop_values(self, codes: np.ndarray) -> np.ndarray:
        """A random value index for each event's (single) property, -1 if it has none."""
        sizes = np.array(
            [len(next(iter(e.props.values()))) if e.props else 0 for e in cat.EVENT_TYPES]
        )[codes]
        draws = (self.rng.random(len(codes)) * np.maximum(sizes, 1)).astype(np.int32)
        return np.where(sizes > 0, draws, -1).astype(np.int32)

    def _key_action(self, actor, device, at, name, value=None, page=None, in_session=True):
        """A key moment (funnel step, invite, upgrade...) inside its own short app session."""
        actor = np.asarray(actor, np.int64)
        at = np.asarray(at, np.int64)
        n = len(actor)
        if n == 0:
            return
        code = cat.CODE[name]
        if value is None:
            value = self._prop_values(np.full(n, code, dtype=np.int16))
        if not in_session:
            self.actions.add(actor, at, code, device, -1, value)
            return
        start = at - (self._u(20, 240, n) * SECOND).astype(np.int64)
        landing_page = (
            self.rng.integers(N_MARKETING, N_MARKETING + N_APP, n)
            if page is None
            else np.full(n, page)
        )
        sid = self._session_with_fillers(
            actor,
            device,
            start,
            self.rng.poisson(2.0, n),
            APP_MIX,
            np.arange(N_MARKETING, N_MARKETING + N_APP),
        )
        self.actions.add(actor, start, cat.CODE["$pageview"], device, sid, landing_page)
        self.actions.add(actor, at, code, device, sid, value)

    # -- the world ---------------------------------------------------------------
    def run(self) -> Chunk:
        rng, plan = self.rng, self.plan
        n = self.n_users
        n_visitors = round(n * VISITORS_PER_USER)
        actors = n + n_visitors
        users = np.arange(n, dtype=np.int64)
        signup = self.signup

        channel = rng.choice(len(cat.CHANNELS), size=actors, p=cat.CHANNEL_WEIGHTS)
        blocked = rng.random((actors, 2)) < P_AD_BLOCKER
        device_kind = rng.integers(0, len(cat.DEVICES), (actors, 2))
        two_devices = np.zeros(actors, bool)
        two_devices[:n] = rng.random(n) < P_TWO_DEVICES

        # -- pre-signup visits on the first device (anonymous) --------------------
        visits = 1 + rng.poisson(0.7, n)
        v_user = np.repeat(users, visits)
        v_at = signup[v_user] - (self._u(0.02, 10.0, len(v_user)) * DAY).astype(np.int64)
        order = np.lexsort((v_at, v_user))
        v_user, v_at = v_user[order], v_at[order]
        first_of_user = np.r_[True, v_user[1:] != v_user[:-1]]
        first_visit = np.full(n, NEVER, np.int64)
        first_visit[v_user[first_of_user]] = v_at[first_of_user]
        self._visits(v_user, v_at, first_of_user)

        # -- visitors who never sign up ------------------------------------------
        vis = np.arange(n, actors, dtype=np.int64)
        vis_visits = 1 + rng.poisson(0.5, n_visitors)
        vv = np.repeat(vis, vis_visits)
        span = plan.end_us - (plan.start_us - 2 * WEEK)
        vv_at = plan.start_us - 2 * WEEK + (rng.random(len(vv)) * span).astype(np.int64)
        order = np.lexsort((vv_at, vv))
        vv, vv_at = vv[order], vv_at[order]
        self._visits(vv, vv_at, np.r_[True, vv[1:] != vv[:-1]] if len(vv) else vv.astype(bool))

        # -- signup session: /signup pageview, identify, signed_up -----------------
        identify = np.full((actors, 2), NEVER, np.int64)
        identify[:n, 0] = signup + 200 * 1000
        start = signup - (self._u(60, 300, n) * SECOND).astype(np.int64)
        sid = self.sessions.open(users, 0, start)
        self.actions.add(users, start, cat.CODE["$pageview"], 0, sid, PAGE_SIGNUP)
        self.actions.add(users, signup - 3 * SECOND, cat.CODE["$autocapture"], 0, sid, 0)
        self.actions.add(
            users,
            signup,
            cat.CODE["signed_up"],
            0,
            sid,
            self._prop_values(np.full(n, cat.CODE["signed_up"], np.int16)),
        )
        self.actions.add(users, identify[:n, 0], cat.CODE["$identify"], 0, sid, -1)
        started = rng.random(n) < 0.9
        self.actions.add(
            users[started],
            signup[started] + (self._u(60, 240, int(started.sum())) * SECOND).astype(np.int64),
            cat.CODE["onboarding_started"],
            0,
            sid[started],
            -1,
        )

        # -- activation funnel (server truth), some steps after the window ---------
        step = np.full((n, 4), NEVER, np.int64)
        step[:, 0] = signup
        has_ws = rng.random(n) < P_WORKSPACE
        has_item = has_ws & (rng.random(n) < P_FIRST_ITEM)
        is_project = rng.random(n) < P_ITEM_IS_PROJECT
        has_done = has_item & (rng.random(n) < P_ONBOARDING_DONE)
        medians = (25 * MINUTE, 3 * HOUR, 1 * DAY)
        for k, (has, median) in enumerate(
            zip((has_ws, has_item, has_done), medians, strict=True), 1
        ):
            delay = np.clip(rng.lognormal(np.log(median), 1.2, n), 2 * MINUTE, 4 * DAY)
            late = rng.random(n) < P_STEP_LATE
            delay = np.where(late, self._u(15, 25, n) * DAY, delay).astype(np.int64)
            at = step[:, k - 1] + delay
            # keep every step clear of the window's edge, so the truth cannot hinge on
            # a few client-side milliseconds
            from_signup = at - signup
            edge = np.abs(from_signup - FUNNEL_WINDOW_DAYS * DAY) < 6 * HOUR
            at = np.where(edge, at + 12 * HOUR, at) // 1000 * 1000
            step[:, k] = np.where(has & (step[:, k - 1] < NEVER), at, NEVER)
        item_value = np.where(is_project, 0, 1).astype(np.int32)
        for k, name in enumerate(
            ("workspace_created", "first_item_created", "onboarding_completed"), 1
        ):
            who = users[step[:, k] < NEVER]
            self._key_action(who, 0, step[who, k], name, value=item_value[who] if k == 2 else None)
        has_integration = (step[:, 2] < NEVER) & (rng.random(n) < 0.45)
        integration_at = np.where(
            has_integration,
            step[:, 2] + (rng.lognormal(np.log(DAY), 1.0, n)).astype(np.int64) // 1000 * 1000,
            NEVER,
        )
        who = users[has_integration]
        self._key_action(who, 0, integration_at[who], "first_integration_connected")

        # -- teammate invites: the planted conversion driver ------------------------
        activated = step[:, 1] < NEVER
        invited_early = rng.random(n) < np.where(
            activated, P_INVITE_EARLY_ACTIVATED, P_INVITE_EARLY_NOT_ACTIVATED
        )
        invites = np.where(invited_early, 1 + rng.poisson(0.6, n), 0)
        iu = np.repeat(users, invites)
        self._key_action(
            iu,
            0,
            signup[iu] + (self._u(0.05, 6.5, len(iu)) * DAY).astype(np.int64) // 1000 * 1000,
            "team_member_invited",
        )
        late_inviter = ~invited_early & (rng.random(n) < P_INVITE_LATE)
        lu = users[late_inviter]
        self._key_action(
            lu,
            0,
            signup[lu] + (self._u(8.0, 13.0, len(lu)) * DAY).astype(np.int64) // 1000 * 1000,
            "team_member_invited",
        )

        # -- trial outcome ------------------------------------------------------------
        converts = rng.random(n) < np.where(
            invited_early, P_CONVERT_WITH_INVITE, P_CONVERT_WITHOUT_INVITE
        )
        converted = np.where(
            converts, signup + (self._u(2.0, 13.5, n) * DAY).astype(np.int64) // 1000 * 1000, NEVER
        )
        plan_kind = np.where(converts, np.where(rng.random(n) < 0.7, 1, 2), 0)
        cu = users[converts]
        viewed = converted[cu] - (self._u(2, 30, len(cu)) * MINUTE).astype(np.int64)
        self._key_action(cu, 0, viewed, "upgrade_page_viewed", page=PAGE_UPGRADE)
        self._key_action(
            cu, 0, converted[cu], "plan_upgraded", value=(plan_kind[cu] - 1).astype(np.int32)
        )
        extends = ~converts & (rng.random(n) < P_TRIAL_EXTENDED)
        eu = users[extends]
        self._key_action(
            eu,
            -1,
            signup[eu] + (self._u(12.0, 13.8, len(eu)) * DAY).astype(np.int64) // 1000 * 1000,
            "trial_extended",
            in_session=False,
        )
        churns = np.where(
            converts, rng.random(n) < P_CHURN_CONVERTED, rng.random(n) < P_CHURN_NOT_CONVERTED
        )
        churn_day = np.where(converts, self._u(30, 150, n), self._u(3, 20, n))
        churned = np.where(
            churns, signup + (churn_day * DAY).astype(np.int64) // 1000 * 1000, NEVER
        )
        chu = users[churns]
        self._key_action(
            chu,
            0,
            churned[chu] - (self._u(1, 10, len(chu)) * MINUTE).astype(np.int64) // 1000 * 1000,
            "cancellation_started",
        )
        self._key_action(chu, -1, churned[chu], "account_deleted", in_session=False)

        # -- second device: first use is anonymous, identified at login ---------------
        second_at = np.where(
            two_devices[:n], signup + (self._u(1, 20, n) * DAY).astype(np.int64), NEVER
        )
        su = users[second_at < NEVER]
        s_start = second_at[su]
        sid = self._session_with_fillers(
            su, 1, s_start, rng.poisson(1.5, len(su)), SITE_MIX, np.arange(N_MARKETING)
        )
        self.actions.add(su, s_start, cat.CODE["$pageview"], 1, sid, PAGE_LOGIN)
        identify[su, 1] = s_start + (self._u(20, 90, len(su)) * SECOND).astype(np.int64)
        self.actions.add(su, identify[su, 1], cat.CODE["$identify"], 1, sid, -1)

        # -- everyday engagement ------------------------------------------------------
        self._engagement(users, signup, converts, churned, second_at, integration_at)

        # -- assemble: drop what happens after the data's end or after churn ----------
        a_actor, a_ts, a_code, a_device, a_session, a_value, a_landing = self.actions.arrays()
        churn_cut = np.full(actors, NEVER, np.int64)
        churn_cut[:n] = churned
        keep = (a_ts < plan.end_us) & (a_ts <= churn_cut[a_actor])
        order = np.lexsort((a_code[keep], a_ts[keep], a_actor[keep]))
        idx = np.flatnonzero(keep)[order]

        s_actor = np.concatenate(self.sessions.actor)
        s_device = np.concatenate(self.sessions.device)
        s_start = np.concatenate(self.sessions.start)
        device_used = np.zeros((actors, 2), bool)
        client = a_device[idx] >= 0
        device_used[a_actor[idx][client], a_device[idx][client]] = True

        anon_first = np.full((actors, 2), plan.end_us, np.int64)
        np.minimum.at(anon_first, (s_actor, s_device), s_start)
        anon_raw = uuid7_strings(anon_first.ravel(), rng).to_pylist()
        user_id = 10_000 + self.first_user_no + users
        team_id = 2
        person = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{team_id}:{a}")) for a in anon_raw]
        n_companies = max(1, int(np.ceil(n / 1.6)))
        company = rng.integers(0, n_companies, n)
        domains = company_domains(self.chunk * plan.chunk_users, n_companies)
        email = self._emails(user_id, [domains[c] for c in company])

        return Chunk(
            n_users=n,
            n_actors=actors,
            user_id=user_id,
            email=email,
            company=company,
            n_companies=n_companies,
            company_domain=domains,
            channel=channel,
            blocked=blocked,
            device_kind=device_kind,
            device_used=device_used,
            anon_id=anon_raw,
            person_uuid=person,
            identify_us=identify,
            first_visit_us=first_visit,
            signup_us=signup,
            converted_us=np.where(converted < plan.end_us, converted, NEVER),
            churned_us=np.where(churned < plan.end_us, churned, NEVER),
            plan=np.where(converted < plan.end_us, plan_kind, 0),
            s_actor=s_actor,
            s_device=s_device,
            s_start=s_start,
            s_uuid=uuid7_strings(s_start, rng),
            s_window=uuid7_strings(s_start, rng),
            a_actor=a_actor[idx],
            a_ts=a_ts[idx],
            a_code=a_code[idx],
            a_device=a_device[idx],
            a_session=a_session[idx],
            a_value=a_value[idx],
            a_landing=a_landing[idx],
        )

    def _visits(self, actor: np.ndarray, at: np.ndarray, first: np.ndarray) -> None:
        """Anonymous marketing-site visits on the first device; the first visit of each
        actor lands from its acquisition channel."""
        n = len(actor)
        sid = self._session_with_fillers(
            actor, 0, at, self.rng.poisson(2.0, n), SITE_MIX, np.arange(N_MARKETING)
        )
        landing = self.rng.integers(0, N_MARKETING, n)
        self.actions.add(actor, at, cat.CODE["$pageview"], 0, sid, landing, landing=first)

    def _engagement(self, users, signup, converts, churned, second_at, integration_at) -> None:
        """Daily product use after signup. Converters stay active with a slow decay;
        others use the product during the trial and fade after it."""
        rng, plan = self.rng, self.plan
        n = len(users)
        if n == 0:
            return
        days = int(np.ceil((plan.end_us - signup.min()) / DAY)) + 1
        d = np.arange(1, days + 1, dtype=np.int64)
        base_conv = rng.beta(3.0, 4.0, n)
        tau = 20 + rng.exponential(200.0, n)
        base_trial = rng.beta(2.0, 5.0, n)
        p = np.where(
            converts[:, None],
            base_conv[:, None] * np.exp(-d[None, :] / tau[:, None]),
            np.where(
                d[None, :] < TRIAL_DAYS,
                base_trial[:, None],
                0.06 * np.exp(-(d[None, :] - TRIAL_DAYS) / 20.0),
            ),
        )
        day_start = signup // DAY * DAY
        active = rng.random((n, days)) < p
        ui, di = np.nonzero(active)
        day_at = day_start[ui] + d[di] * DAY
        ok = (day_at < plan.end_us) & (day_at < churned[ui])
        ui, day_at = ui[ok], day_at[ok]
        per_day = 1 + rng.poisson(0.6, len(ui))
        su = np.repeat(ui, per_day)
        s_at = np.repeat(day_at, per_day) + (self._u(7, 21, len(su)) * HOUR).astype(np.int64)
        device = ((s_at >= second_at[su]) & (rng.random(len(su)) < 0.4)).astype(np.int8)
        sid = self._session_with_fillers(
            users[su],
            device,
            s_at,
            2 + rng.poisson(7.0, len(su)),
            APP_MIX,
            np.arange(N_MARKETING, N_MARKETING + N_APP),
        )
        landing = rng.integers(N_MARKETING, N_MARKETING + N_APP, len(su))
        self.actions.add(users[su], s_at, cat.CODE["$pageview"], device, sid, landing)
        self.actions.add(users[su], s_at + 200 * 1000, cat.CODE["session_started"], device, sid, -1)
        # API usage from connected integrations: server-side only, no browser session
        api_days = day_at >= integration_at[ui]
        calls = rng.poisson(2.5, int(api_days.sum()))
        au = np.repeat(ui[api_days], calls)
        a_at = np.repeat(day_at[api_days], calls) + (rng.random(len(au)) * DAY).astype(np.int64)
        self._key_action(users[au], -1, a_at // 1000 * 1000, "api_call_made", in_session=False)

    def _emails(self, user_id: np.ndarray, domains: list[str]) -> list[str]:
        first = self.rng.integers(0, len(cat.FIRST_NAMES), len(user_id))
        last = self.rng.integers(0, len(cat.LAST_NAMES), len(user_id))
        return [
            f"{cat.FIRST_NAMES[f]}.{cat.LAST_NAMES[la]}{u}@{d}"
            for f, la, u, d in zip(first, last, user_id, domains, strict=True)
        ]


def company_domains(first_company_no: int, count: int) -> list[str]:
    """Unique, readable company domains (`brightorbit-1042.io`)."""
    words = cat.COMPANY_WORDS
    out = []
    for no in range(first_company_no, first_company_no + count):
        out.append(f"{words[no % len(words)]}{words[(no // len(words)) % len(words)]}-{no}.io")
    return out
