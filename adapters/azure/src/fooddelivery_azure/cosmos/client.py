"""Building the Cosmos DB client: managed identity in Azure, a key only for local use.

In Azure the client authenticates with Microsoft Entra ID through ``DefaultAzureCredential`` (the Function App's
managed identity; its data-plane role assignment is in ``deploy/azure``), so no key is ever in the app's settings
("Use data plane role-based access control with Azure Cosmos DB for NoSQL",
https://learn.microsoft.com/azure/cosmos-db/nosql/security/how-to-grant-data-plane-role-based-access). A key
(``COSMOS_KEY``) is accepted for a local stand-in only, and then TLS verification may be turned off for its
self-signed certificate (``COSMOS_VERIFY_TLS=false``). Nothing here runs at import.

Building a ``CosmosClient`` is not free: the SDK asks the account for its regions and settings
(``GetDatabaseAccount``, a network round trip) in the constructor. :class:`LazyContainers` builds it on the first
call a container makes, so a Functions host's cold start that serves no data (``GET /health``, a preflight, a 401)
makes no Cosmos DB call at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.cosmos import CosmosClient

__all__ = ["LazyContainers", "build_cosmos_client"]


def build_cosmos_client(endpoint: str, *, key: str | None = None, verify_tls: bool = True) -> CosmosClient:
    """A Cosmos DB client for ``endpoint``: with ``key`` (local use), else with ``DefaultAzureCredential``.

    The client keeps one connection pool and is meant to be built once per process ("Performance tips for the
    Python SDK": use a singleton client).
    """
    from azure.cosmos import CosmosClient

    credential: Any
    if key:
        credential = key
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return CosmosClient(endpoint, credential=credential, connection_verify=verify_tls)


class _LazyContainer:
    """A ``ContainerProxy`` of :class:`LazyContainers`, resolved on its first attribute use."""

    __slots__ = ("_name", "_owner", "_proxy")

    def __init__(self, owner: LazyContainers, name: str) -> None:
        self._owner = owner
        self._name = name
        self._proxy: Any = None

    def __getattr__(self, attribute: str) -> Any:
        proxy = self._proxy
        if proxy is None:
            proxy = self._proxy = self._owner.database().get_container_client(self._name)
        return getattr(proxy, attribute)


class LazyContainers:
    """Containers of one database whose client is built on first use (thread-safe, once).

    Args:
        client: builds the ``CosmosClient`` (:func:`build_cosmos_client` with the settings), called once.
        database: the database name.
    """

    def __init__(self, client: Callable[[], Any], database: str) -> None:
        self._build = client
        self._name = database
        self._database: Any = None
        self._lock = threading.Lock()

    def database(self) -> Any:
        """The ``DatabaseProxy`` (the client is built by the first call).

        Raises:
            Exception: whatever building the client raised (the next call tries again).
        """
        if self._database is None:
            with self._lock:
                if self._database is None:
                    self._database = self._build().get_database_client(self._name)
        return self._database

    def container(self, name: str) -> Any:
        """A stand-in for container ``name`` that resolves it on its first use."""
        return _LazyContainer(self, name)
