"""Fixtures of the DynamoDB repository tests: tables created from ``fooddelivery_aws.dynamodb.tables`` on the
session's moto server (fresh per test, after ``moto_reset``) and on dynalite, a second, independent DynamoDB
implementation (npm ``dynalite``, installed by ``scripts/test`` under ``adapters/aws/node``).

dynalite is started once per session on a free loopback port (``node .../dynalite --createTableMs 0``, in
memory) and stopped by its process id. It is installed with ``npm ci --prefix adapters/aws/node`` (the lock file
is in that folder). Where node or dynalite is missing the dynalite tests are skipped with a reason naming the
install command; the moto tests still run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from fooddelivery_aws.dynamodb.tables import DRIVERS, ORDERS, OUTBOX, RESTAURANTS, SAGAS, TableSpec, create_table

#: Where ``npm ci --prefix adapters/aws/node`` puts dynalite.
DYNALITE = Path(__file__).resolve().parents[2] / "node" / "node_modules" / ".bin" / "dynalite"
INSTALL_HINT = "npm ci --prefix adapters/aws/node"


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 2}, max_pool_connections=64),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


# -- moto ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_dynamodb(moto_endpoint: str) -> Any:
    """A low-level DynamoDB client of the session's moto server."""
    return _client(moto_endpoint)


@pytest.fixture
def moto_tables(moto_reset: str, moto_dynamodb: Any) -> dict[TableSpec, str]:
    """Every table (and the optional outbox table) created from its spec on a freshly reset moto server."""
    names = {ORDERS: "orders", RESTAURANTS: "restaurants", DRIVERS: "drivers", SAGAS: "sagas", OUTBOX: "outbox"}
    for spec, name in names.items():
        create_table(moto_dynamodb, spec, name)
    return names


# -- dynalite -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    """URL of a dynalite server for this session, or a skip saying how to install it."""
    node = shutil.which("node")
    if node is None or not DYNALITE.exists():
        pytest.skip(
            f"DYNALITE NOT INSTALLED ({'no node' if node is None else DYNALITE}): the plain-CRUD tests on a second "
            f"DynamoDB implementation did not run; install with `{INSTALL_HINT}`"
        )
    port = _free_port()
    proc = subprocess.Popen(
        [node, str(DYNALITE), "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def dynalite_dynamodb(dynalite_endpoint: str) -> Any:
    """A low-level DynamoDB client of the session's dynalite server."""
    return _client(dynalite_endpoint)


@pytest.fixture
def dynalite_tables(dynalite_dynamodb: Any) -> Iterator[dict[TableSpec, str]]:
    """The orders, restaurants, drivers and sagas tables, under names unique to this test, on dynalite (dropped
    after)."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        ORDERS: f"orders-{suffix}",
        RESTAURANTS: f"restaurants-{suffix}",
        DRIVERS: f"drivers-{suffix}",
        SAGAS: f"sagas-{suffix}",
    }
    for spec, name in names.items():
        create_table(dynalite_dynamodb, spec, name)
    yield names
    for name in names.values():
        dynalite_dynamodb.delete_table(TableName=name)
