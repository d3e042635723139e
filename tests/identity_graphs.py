"""Random small identity graphs in the real raw source shapes, and their loading into a
raw DuckDB landing file (the tables dlt writes: raw_posthog.events, raw_app.users, ...).

Each graph uses ids of its own (prefix `g<n>-`, app user ids `<n>0<k>`), so many disjoint
graphs load and build at once; only PostHog's illegal ids (`anonymous`, `null`, ...) are
shared, as in real data. A graph holds what identity meets in practice, drawn at random:
app users with emails (some shared, some differing only in case and white space, NBSP
included), anonymous devices identified by one, two or three users at a handful of
instants (so identifications and events often share an instant), alias chains of random
length in either direction, links between two anonymous ids, PostHog person ids on
events and from the persons API, app events of users, and HubSpot and Intercom contacts
by email and `external_id`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import duckdb

from tests.identity_reference import Sources

START = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
ILLEGAL = ["anonymous", "null", '"undefined"', "'guest'", "NaN", "0", "None", "Email"]


class GraphMaker:
    """Adds one random graph's rows to `sources`."""

    def __init__(self, rng: random.Random, sources: Sources, graph: int,
                 max_chain: int) -> None:
        self.rng, self.src, self.graph, self.max_chain = rng, sources, graph, max_chain
        self.prefix = f"g{graph}-"
        self.persons = [f"{self.prefix}p{k}" for k in range(rng.randint(1, 3))]
        self.ids: list[str] = []  # every distinct_id of the graph, users' included

    # -- helpers -------------------------------------------------------------------------
    def uuid(self) -> str:
        bits = f"{self.rng.getrandbits(128):032x}"
        return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"

    def instant(self) -> dt.datetime:
        """One of a dozen instants, so events and identifications often coincide."""
        return START + dt.timedelta(minutes=5 * self.rng.randrange(12))

    def posthog(self, event: str, distinct_id: str, **properties: str) -> None:
        person = self.rng.choice([*self.persons, None, None])
        self.src.posthog_events.append({
            "uuid": self.uuid(), "event": event, "distinct_id": distinct_id,
            "person_id": person, "ts": self.instant(), "properties": properties,
        })

    def email(self, local: str) -> str:
        """An address as a person might type it: case and white space vary."""
        address = f"{local}@{self.prefix}example.io"
        if self.rng.random() < 0.4:
            address = "".join(c.upper() if self.rng.random() < 0.5 else c for c in address)
        pad = self.rng.choice(["", "", " ", "\u00a0", "\t "])
        return pad + address + self.rng.choice(["", "", " ", "\u00a0"])

    # -- the graph -----------------------------------------------------------------------
    def make(self) -> None:
        rng = self.rng
        users = self.make_users()
        devices = [f"{self.prefix}d{k}" for k in range(rng.randint(1, 4))]
        if rng.random() < 0.3:  # ids are text: a number is an id like any other
            devices.append(f"{self.graph}9{rng.randrange(10)}")
        self.ids += devices
        for device in devices:
            for user in rng.sample(users, min(len(users), rng.choice([0, 1, 1, 2, 2, 3]))):
                self.posthog("$identify", user, **{"$anon_distinct_id": device})
        for _ in range(rng.choice([0, 1, 1, 2])):
            self.make_chain(len(self.ids))
        for _ in range(rng.choice([0, 0, 1, 2])):  # a link between two random ids
            a, b = rng.sample(self.ids, 2) if len(self.ids) > 1 else (self.ids[0], None)
            if b is not None:
                kind = rng.choice(["$create_alias", "$merge_dangerously", "$identify"])
                key = "$anon_distinct_id" if kind == "$identify" else "alias"
                self.posthog(kind, a, **{key: b})
        if rng.random() < 0.2:  # an identify naming an illegal id links nothing
            self.posthog("$identify", rng.choice(self.ids),
                         **{"$anon_distinct_id": rng.choice(ILLEGAL)})
        for distinct_id in self.ids:
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                self.posthog("$pageview", distinct_id)
        if rng.random() < 0.1:
            self.posthog("$pageview", rng.choice(ILLEGAL))
        for distinct_id in rng.sample(self.ids, min(len(self.ids), rng.randint(0, 2))):
            self.src.person_distinct_ids.append(
                {"distinct_id": distinct_id, "person_id": rng.choice(self.persons)})
        self.make_app_events(users)
        self.make_crm(users, devices)

    def make_users(self) -> list[str]:
        users = []
        emails: list[str] = []
        for k in range(self.rng.choice([0, 1, 1, 2, 2, 3])):
            user_id = int(f"{self.graph}0{k}")
            if emails and self.rng.random() < 0.15:  # two users with one address
                email = self.rng.choice(emails)
            else:
                email = self.email(f"u{k}")
            emails.append(email)
            self.src.users.append({"id": user_id, "email": email})
            users.append(str(user_id))
        self.ids += users
        return users

    def make_chain(self, serial: int) -> None:
        """An alias chain from a random id: each id aliases the next, in either direction."""
        length = self.rng.randint(1, self.max_chain)
        previous = self.rng.choice(self.ids)
        for k in range(length):
            alias = f"{self.prefix}c{serial}-{k}"
            kept, named = (previous, alias) if self.rng.random() < 0.7 else (alias, previous)
            self.posthog(self.rng.choice(["$create_alias", "$create_alias",
                                          "$merge_dangerously"]), kept, alias=named)
            self.ids.append(alias)
            previous = alias

    def make_app_events(self, users: list[str]) -> None:
        """The app's own events: always of an app user (a foreign key in the app)."""
        for user_id in users:
            for _ in range(self.rng.choice([0, 1, 2])):
                self.src.app_events.append({
                    "id": len(self.src.app_events) + 1, "user_id": int(user_id),
                    "created_at": self.instant(),
                })

    def make_crm(self, users: list[str], devices: list[str]) -> None:
        user_rows = {str(u["id"]): u for u in self.src.users}
        for k in range(self.rng.choice([0, 0, 1, 2])):
            email = self.email("lead")
            if users and self.rng.random() < 0.6:
                email = user_rows[self.rng.choice(users)]["email"].upper()
            self.src.hubspot_contacts.append({"id": f"{self.prefix}h{k}", "email": email})
        for k in range(self.rng.choice([0, 0, 1, 2])):
            external = self.rng.choice([*users, *devices, None, "null"])
            email = self.rng.choice([None, self.email("lead"), self.email(f"i{k}")])
            self.src.intercom_contacts.append(
                {"id": f"{self.prefix}i{k}", "external_id": external, "email": email})


def random_sources(seed: int, graphs: int, max_chain: int = 6) -> Sources:
    rng = random.Random(seed)
    sources = Sources()
    for graph in range(1, graphs + 1):
        GraphMaker(rng, sources, graph, max_chain).make()
    return sources


def load_raw(raw_db: Path, src: Sources) -> None:
    """The rows as dlt lands them: PostHog batch-export events (properties as JSON), the
    persons API's distinct ids, the app's users and events (naive UTC timestamps, as the
    app's Postgres has them), HubSpot and Intercom contacts."""
    loaded = START + dt.timedelta(days=1)
    naive = START.replace(tzinfo=None)
    tables = {
        "raw_posthog.events": (
            "uuid varchar, event varchar, distinct_id varchar, person_id varchar, "
            "timestamp timestamptz, _inserted_at timestamptz, properties json",
            [(e["uuid"], e["event"], e["distinct_id"], e["person_id"], e["ts"], loaded,
              json.dumps(e["properties"])) for e in src.posthog_events]),
        "raw_posthog.api_person_distinct_ids": (
            "distinct_id varchar, person_id varchar",
            [(r["distinct_id"], r["person_id"]) for r in src.person_distinct_ids]),
        "raw_app.users": (
            "id bigint, email varchar, signed_up_at timestamp, plan varchar, "
            "converted_at timestamp, churned boolean, churned_at timestamp, "
            "updated_at timestamp",
            [(u["id"], u["email"], naive, "trial", None, False, None, naive)
             for u in src.users]),
        "raw_app.events": (
            "id bigint, user_id bigint, name varchar, properties varchar, "
            "session_id varchar, created_at timestamp",
            [(e["id"], e["user_id"], "item_created", "{}", None,
              e["created_at"].replace(tzinfo=None)) for e in src.app_events]),
        "raw_hubspot.contacts": (
            "id varchar, properties__email varchar, properties__lastmodifieddate timestamptz, "
            "updated_at timestamptz",
            [(c["id"], c["email"], loaded, loaded) for c in src.hubspot_contacts]),
        "raw_intercom.contacts": (
            "id varchar, external_id varchar, email varchar, updated_at bigint",
            [(c["id"], c["external_id"], c["email"], int(loaded.timestamp()))
             for c in src.intercom_contacts]),
    }
    with duckdb.connect(str(raw_db)) as con:
        for table, (columns, rows) in tables.items():
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.execute(f"create table {table} ({columns})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"insert into {table} values ({marks})", rows)
