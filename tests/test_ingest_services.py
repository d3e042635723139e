"""`journeys ingest` loads every configured service from its env configuration, against
local servers that speak each vendor's API, and reports each resource's cursor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from journeys.stand_ins.hubspot import HubSpotAPI, load_generated
from journeys.stand_ins.intercom import IntercomAPI
from journeys.stand_ins.posthog import PostHogQueryAPI


def test_ingest_loads_every_configured_service(generated, tmp_path: Path) -> None:
    folder, truth = generated
    data = tmp_path / "data"
    with (IntercomAPI.from_generated(folder) as intercom,
          HubSpotAPI(load_generated(folder / "hubspot"), search_rate=None) as hubspot,
          PostHogQueryAPI.from_export(folder / "posthog" / "events") as posthog):
        env = {
            **os.environ,
            "SOURCES__HUBSPOT__BASE_URL": hubspot.base_url,
            "SOURCES__HUBSPOT__ACCESS_TOKEN": hubspot.token,
            "SOURCES__INTERCOM__BASE_URL": intercom.base_url,
            "SOURCES__INTERCOM__ACCESS_TOKEN": intercom.token,
            "SOURCES__POSTHOG_API__BASE_URL": posthog.base_url,
            "SOURCES__POSTHOG_API__PROJECT_ID": posthog.project_id,
            "SOURCES__POSTHOG_API__PERSONAL_API_KEY": posthog.api_key,
            "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.05",
        }
        result = subprocess.run(
            [sys.executable, "-m", "journeys.cli", "ingest", "--data-dir", str(data)],
            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for needle in ("intercom", "hubspot", "posthog-api", "updated_at = ",
                   "raw_posthog.api_events", "raw_hubspot.deal_company_associations"):
        assert needle in result.stderr
    for secret in (intercom.token, hubspot.token, posthog.api_key):
        assert secret not in result.stderr + result.stdout
    with duckdb.connect(str(data / "raw.duckdb"), read_only=True) as con:
        contacts = con.execute("select count(*) from raw_intercom.contacts").fetchone()[0]
        events = con.execute("select count(*) from raw_posthog.api_events").fetchone()[0]
        deals = con.execute("select count(*) from raw_hubspot.deals").fetchone()[0]
    assert contacts == truth["rows"]["intercom_contacts"]
    assert deals == truth["rows"]["hubspot_deals"]
    assert events == truth["rows"]["posthog_unique_events"]
