"""The Cosmos DB stand-in of the test session, and the explicit handling of its known gaps.

The stand-in is ``@vercel/cosmosdb-server`` (npm; ``adapters/azure/node``), a Cosmos DB (NoSQL API) protocol
implementation: the SDK talks to it over HTTPS exactly as to Cosmos DB. Its gaps, measured by
``cosmos/test_stand_in_gaps.py`` (which fails the day one of them is fixed, so this module can shrink):

1. ``read_item`` of a missing document answers **500**, not 404;
2. a transactional batch runs only ``create`` operations (any other operation fails to parse its partition key,
   because the SDK sends the batch's partition key as a header), and **not atomically**: an operation failing after
   others leaves those written;
3. a single-partition query must name the partition-key path in its WHERE clause (the adapters never issue one).

:class:`StandInContainer` wraps a stand-in container for the adapters under test and handles gaps 1 and 2 in the
open -- the adapters themselves run the code they run against Cosmos DB:

- a 500 on ``read_item`` is checked with a query; if the document does not exist, the 404 Cosmos DB would answer
  is raised (the SDK's own ``CosmosResourceNotFoundError``); any other 500 is re-raised;
- every batch's preconditions are checked first, before any operation runs (one query per operation: a ``create``
  of an existing id is refused with 409, a ``replace``/``delete`` of a missing one with 404, a ``replace`` whose
  ``if_match_etag`` is not the stored etag with 412), and a refusal raises the SDK's own
  ``CosmosBatchOperationError`` with per-operation responses shaped as the service's (the refused index, 424 for the
  others) having written nothing -- what Cosmos DB answers for a refused batch. The check reads without isolation:
  it makes a refusal all-or-nothing for one writer (every test's case), not against a concurrent one;
- then a batch of ``create`` operations goes to the stand-in's batch endpoint as is (the SDK's real request and
  response path); a batch with other operations runs operation by operation over the stand-in's single-document API.
  **The service's atomic execution under concurrent writers is not exercised offline**: the native unit of work's
  batch (order + outbox + saga, ``fooddelivery_azure.cosmos.unit_of_work``) relies on it in Cosmos DB.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceNotFoundError,
)

#: The Cosmos DB emulator's well-known key (public: "Use the Azure Cosmos DB emulator for local development",
#: https://learn.microsoft.com/azure/cosmos-db/emulator). The stand-in accepts any key; never a real one.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CosmosServer:
    """A running stand-in: its endpoint and process (a process group of its own)."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the whole process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start_cosmos_server(timeout: float = 20.0) -> CosmosServer:
    """Start the stand-in (``node/serve.js``: HTTPS, self-signed, keep-alive) on a free loopback port and wait until
    it is ready.

    Raises:
        RuntimeError: the npm package is not installed (run ``npm ci --prefix adapters/azure/node``) or the server
            did not start in ``timeout`` seconds.
    """
    package = NODE_DIR / "node_modules" / "@vercel" / "cosmosdb-server"
    if not package.exists():
        raise RuntimeError(f"{package} is missing: run `npm ci --prefix adapters/azure/node` (test.sh does)")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node (Node.js >= 18) is not on PATH: the Cosmos DB stand-in needs it")
    port = free_port()
    process = subprocess.Popen(
        [node, str(NODE_DIR / "serve.js"), "127.0.0.1", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = CosmosServer(f"https://127.0.0.1:{port}", process)
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline().decode(errors="replace")
    if "Ready to accept" not in line:
        server.stop()
        raise RuntimeError(f"cosmosdb-server did not start: {line!r}")
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"cosmosdb-server did not listen on {port} within {timeout} s")


def _batch_error(index: int, status: int, responses: list[dict[str, Any]], message: str) -> CosmosBatchOperationError:
    return CosmosBatchOperationError(
        error_index=index,
        headers={"x-ms-request-charge": "0"},
        status_code=status,
        message=message,
        operation_responses=responses,
    )


def _ok(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "requestCharge": 1, "eTag": body["_etag"], "resourceBody": body}


class StandInContainer:
    """A stand-in container with gaps 1 and 2 handled as the module docstring says; everything else passes through.

    Args:
        inner: the SDK's container on the stand-in.
        partition_key_path: its partition key path (``/orderId``), for the existence check of gap 1.
    """

    def __init__(self, inner: ContainerProxy, partition_key_path: str) -> None:
        self.inner = inner
        self.pk_field = partition_key_path.strip("/")
        self.stats = {"read_500_as_404": 0, "batch_forwarded": 0, "batch_op_by_op": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_item(self, item: str, partition_key: str, **kwargs: Any) -> Any:
        try:
            return self.inner.read_item(item, partition_key, **kwargs)
        except CosmosHttpResponseError as exc:
            if exc.status_code != 500 or self._exists(item, partition_key):
                raise
            self.stats["read_500_as_404"] += 1
            raise CosmosResourceNotFoundError(
                status_code=404, message=f"Entity with the specified id does not exist in the system ({item})"
            ) from None

    def _exists(self, item: str, partition_key: str) -> bool:
        query = f"SELECT VALUE COUNT(1) FROM c WHERE c.id = @id AND c.{self.pk_field} = @pk"
        found = list(
            self.inner.query_items(
                query,
                parameters=[{"name": "@id", "value": item}, {"name": "@pk", "value": partition_key}],
                partition_key=partition_key,
            )
        )
        return bool(found and found[0])

    def execute_item_batch(
        self,
        batch_operations: Sequence[tuple[Any, ...]],
        partition_key: str,
        *,
        response_hook: Callable[[Mapping[str, str], Any], None] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        self._check_preconditions(batch_operations, partition_key)
        if all(op[0] == "create" for op in batch_operations):
            self.stats["batch_forwarded"] += 1
            return list(
                self.inner.execute_item_batch(
                    list(batch_operations), partition_key=partition_key, response_hook=response_hook, **kwargs
                )
            )
        self.stats["batch_op_by_op"] += 1
        responses: list[dict[str, Any]] = []
        for index, operation in enumerate(batch_operations):
            kind, args = operation[0], operation[1]
            options = operation[2] if len(operation) > 2 else {}
            try:
                if kind == "create":
                    body = self.inner.create_item(args[0])
                    responses.append(_ok(201, body))
                elif kind == "replace":
                    etag = options.get("if_match_etag")
                    extra = {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}
                    body = self.inner.replace_item(args[0], args[1], **extra)
                    responses.append(_ok(200, body))
                elif kind == "delete":
                    self.inner.delete_item(args[0], partition_key)
                    responses.append({"statusCode": 204, "requestCharge": 1})
                else:
                    raise AssertionError(f"the stand-in wrapper does not run batch operation {kind!r}")
            except CosmosHttpResponseError as exc:
                responses.append({"statusCode": exc.status_code, "requestCharge": 0})
                responses.extend({"statusCode": 424, "requestCharge": 0} for _ in batch_operations[index + 1 :])
                raise _batch_error(index, int(exc.status_code or 0), responses, str(exc.message)) from None
        if response_hook is not None:
            response_hook({"x-ms-request-charge": str(float(len(responses)))}, responses)
        return responses

    def _check_preconditions(self, batch_operations: Sequence[tuple[Any, ...]], partition_key: str) -> None:
        """Refuse the batch, before running any of it, at the first operation whose precondition fails as Cosmos DB
        would refuse it: a ``create`` of an existing id (409), a ``replace`` or ``delete`` of a missing one (404), a
        ``replace`` whose ``if_match_etag`` is not the stored etag (412). Read without isolation: it makes a refusal
        all-or-nothing when nobody else writes meanwhile (the tests' case), nothing more."""
        for index, operation in enumerate(batch_operations):
            kind, args = operation[0], operation[1]
            options = operation[2] if len(operation) > 2 else {}
            item = str(args[0]["id"]) if kind == "create" else str(args[0])
            found = list(
                self.inner.query_items(
                    f"SELECT c._etag FROM c WHERE c.id = @id AND c.{self.pk_field} = @pk",
                    parameters=[{"name": "@id", "value": item}, {"name": "@pk", "value": partition_key}],
                    partition_key=partition_key,
                )
            )
            status = 0
            if kind == "create" and found:
                status = 409
            elif kind in ("replace", "delete") and not found:
                status = 404
            elif kind == "replace" and options.get("if_match_etag") not in (None, found[0]["_etag"]):
                status = 412
            if status:
                responses = [{"statusCode": 424, "requestCharge": 0} for _ in batch_operations]
                responses[index] = {"statusCode": status, "requestCharge": 0}
                raise _batch_error(index, status, responses, f"precondition of operation {index} failed ({status})")
