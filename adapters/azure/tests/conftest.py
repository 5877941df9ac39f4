"""Test session of the Azure package: a Cosmos DB stand-in (``@vercel/cosmosdb-server``) on a free loopback port,
started once per session and stopped by process group at its end; fresh containers per test. Also once per session:
the Functions worker's event loop (a thread) and the Durable Functions stand-in's HTTP API (a loopback server in a
thread; ``durable_stand_in.py``), both stopped at the end.

See ``azure_stand_ins.py`` for the stand-in's gaps and how they are handled (in the tests, never in the adapters).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.cosmos import CosmosClient, DatabaseProxy
from azure_world import FunctionsLoop
from durable_stand_in import DurableRpcServer

from azure_stand_ins import EMULATOR_KEY, CosmosServer, StandInContainer, start_cosmos_server
from fooddelivery_azure.cosmos.containers import CONTAINERS, SAGAS

# The core's shipped test kit: assertion rewriting of its contract suites and the conformance summary line.
pytest_plugins = ["fooddelivery.testing.plugin"]



def pytest_configure(config: pytest.Config) -> None:
    """The stand-in's certificate is self-signed: urllib3 would warn on every request made without verification."""
    config.addinivalue_line("filterwarnings", "ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    """The session's stand-in."""
    server = start_cosmos_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def functions_loop() -> Iterator[FunctionsLoop]:
    """The worker's event loop of the session (one per process, as in the Python worker)."""
    loop = FunctionsLoop()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture(scope="session")
def durable_rpc() -> Iterator[DurableRpcServer]:
    """The Durable stand-in's HTTP API (each world plugs its own host into it)."""
    server = DurableRpcServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cosmos_client(cosmos_server: CosmosServer) -> CosmosClient:
    """An SDK client of the stand-in (the emulator key; TLS verification off for its self-signed certificate)."""
    return CosmosClient(cosmos_server.endpoint, credential=EMULATOR_KEY, connection_verify=False)


@pytest.fixture
def database(cosmos_client: CosmosClient) -> Iterator[DatabaseProxy]:
    """A fresh, empty database for one test, deleted afterwards."""
    name = f"db{uuid.uuid4().hex[:12]}"
    db = cosmos_client.create_database(name)
    try:
        yield db
    finally:
        cosmos_client.delete_database(name)


ContainerFactory = Callable[[str], StandInContainer]


@pytest.fixture
def container(database: DatabaseProxy) -> ContainerFactory:
    """Creates a container of :data:`~fooddelivery_azure.cosmos.containers.CONTAINERS` (by logical name; ``sagas``:
    the earlier layout's :data:`~fooddelivery_azure.cosmos.containers.SAGAS`) in the
    test's database, with its partition key and indexing policy, wrapped for the stand-in's gaps."""
    from azure.cosmos import PartitionKey

    def make(key: str) -> StandInContainer:
        spec = SAGAS if key == "sagas" else CONTAINERS[key]
        inner = database.create_container(
            key, PartitionKey(path=spec.partition_key_path), indexing_policy=spec.indexing_policy()
        )
        return StandInContainer(inner, spec.partition_key_path)

    return make
