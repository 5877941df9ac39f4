"""What an instance's process imports when functions-framework loads ``fooddelivery_gcp.main`` and the ``http_api``
function answers its first request (a cold start).

The Google Cloud client libraries (Firestore, Pub/Sub, Cloud Tasks) and gRPC are imported by the first request that
uses them, not by loading the module nor by ``GET /health`` (``bench/cold_start.py`` measures the time; this test
checks the imports, in a fresh interpreter). The request after it reads a restaurant from the Firestore emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

from conftest import PROJECT
from fooddelivery.domain.catalog import MenuItem, Restaurant
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.http.auth import issue_dev_token
from fooddelivery_gcp.firestore import FirestoreRestaurantRepository

#: Modules the first GET /health must not import (the client libraries and their transport).
HEAVY = ("google.cloud.firestore", "google.cloud.pubsub_v1", "google.cloud.tasks_v2", "google.api_core", "grpc")

#: Run in a fresh interpreter: load the module as functions-framework does, answer GET /health, note the heavy
#: modules then loaded, then answer GET /restaurants/rest-0 (a Firestore read on the emulator).
PROBE = """
import json, sys
HEAVY = json.loads(sys.argv[1])
from fooddelivery_gcp.main import http_api
from flask import Request
from werkzeug.test import EnvironBuilder
after_load = sorted(m for m in HEAVY if m in sys.modules)
health = http_api(Request(EnvironBuilder(path="/health", method="GET").get_environ()))
after_health = sorted(m for m in HEAVY if m in sys.modules)
headers = {"Authorization": "Bearer " + sys.argv[2]}
one = http_api(Request(EnvironBuilder(path="/restaurants/rest-0", method="GET", headers=headers).get_environ()))
print(json.dumps({
    "after_load": after_load, "health": [health.status_code, health.get_json()], "after_health": after_health,
    "restaurant": [one.status_code, one.get_json()],
    "after_read": sorted(m for m in HEAVY if m in sys.modules),
}))
"""


def test_the_first_health_request_imports_no_client_library_and_the_next_request_reads_firestore(
    firestore_client: Any, firestore_host: str, prefix: str
) -> None:
    FirestoreRestaurantRepository(firestore_client, prefix=prefix).add(
        Restaurant(
            "rest-0",
            "Luigi's",
            "pizza",
            Decimal("4.6"),
            GeoPoint(40.7128, -74.0060),
            "USD",
            Decimal("0.08875"),
            15,
            (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),),
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOODDELIVERY", "GOOGLE", "PUBSUB"))}
    env |= {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FOODDELIVERY_COLLECTION_PREFIX": prefix,
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "ORDER_EVENTS_TOPIC": "order-events",
        "RUNTIME_TOPIC": "runtime",
        "DEAD_LETTER_TOPIC": "dead-letters",
        "NOTIFICATIONS_TOPIC": "notifications",
        "LOCATIONS_TOPIC": "locations",
        "TASKS_QUEUE": f"projects/{PROJECT}/locations/us-central1/queues/saga-timers",
        "TIMER_URL": "https://saga-timer.example.test/",
        "TASKS_SERVICE_ACCOUNT": f"tasks@{PROJECT}.iam.gserviceaccount.com",
        "FOODDELIVERY_AUTH": "dev",
        "FOODDELIVERY_PAYMENT_GATEWAY": "fake",
        "GOOGLE_AUTH_SUPPRESS_CREDENTIALS_WARNINGS": "true",
    }
    token = issue_dev_token("customer", "user-1")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), token],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["after_load"] == []
    assert result["health"] == [200, {"status": "ok", "checks": {}}]
    assert result["after_health"] == []
    status, restaurant = result["restaurant"]
    assert status == 200, restaurant
    assert (restaurant["restaurantId"], restaurant["name"]) == ("rest-0", "Luigi's")
    assert {"google.cloud.firestore", "google.api_core", "grpc"} <= set(result["after_read"])
