"""Building the Cosmos DB client: managed identity in Azure, a key only for local use.

In Azure the client authenticates with Microsoft Entra ID through ``DefaultAzureCredential`` (the Function App's
managed identity; its data-plane role assignment is in ``deploy/azure``), so no key is ever in the app's settings
("Use data plane role-based access control with Azure Cosmos DB for NoSQL",
https://learn.microsoft.com/azure/cosmos-db/nosql/security/how-to-grant-data-plane-role-based-access). A key
(``COSMOS_KEY``) is accepted for a local stand-in only, and then TLS verification may be turned off for its
self-signed certificate (``COSMOS_VERIFY_TLS=false``). Nothing here runs at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.cosmos import CosmosClient

__all__ = ["build_cosmos_client"]


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
