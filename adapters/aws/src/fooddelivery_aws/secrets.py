"""A Secrets Manager secret read on first use and cached with a time to live.

The payment processor's key (``PAYMENT_SECRET_ARN``) is read when a payment step first needs it, never at import
or cold start, and kept for ``ttl`` (5 minutes by default), so a warm function calls ``GetSecretValue`` at most once
per TTL and a rotated key is picked up within one TTL. AWS recommends caching secrets client-side for the same
reasons (cost and latency; "Get a Secrets Manager secret value using Python with client-side caching":
https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_cache-python.html, whose library
defaults to a 1-hour TTL).

When a refresh fails after the TTL ran out, the error is raised (not the stale value served): a payment with a
revoked key would fail at the processor anyway, later and less clearly.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.ports.clock import Clock
from fooddelivery_aws._clients import LazyClient, reraise

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["SecretsManagerSecret"]


class SecretsManagerSecret:
    """One secret's current string value, fetched lazily and cached for ``ttl``. Thread-safe.

    Args:
        secret_id: the secret's ARN or name.
        clock: time source of the cache.
        ttl: how long a fetched value is served before it is fetched again.
        client: a boto3 Secrets Manager client; built lazily when None.
        region_name, endpoint_url: of a lazily built client.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=5),
        client: SecretsManagerClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.clock = clock
        self.ttl = ttl
        self._client: LazyClient[SecretsManagerClient] = LazyClient(
            "secretsmanager", client, region_name=region_name, endpoint_url=endpoint_url
        )
        self._lock = threading.Lock()
        self._value: str | None = None
        self._fetched_at: datetime | None = None
        self.fetches = 0

    def value(self) -> str:
        """The secret string (``SecretString``), from the cache while it is fresh.

        Raises:
            InfrastructureError: Secrets Manager failed (missing secret, access denied, throttling), or the secret
                holds binary data only.
        """
        with self._lock:
            now = self.clock.now()
            if self._value is not None and self._fetched_at is not None and now - self._fetched_at < self.ttl:
                return self._value
            try:
                response = self._client.get().get_secret_value(SecretId=self.secret_id)
            except Exception as exc:
                reraise(exc, "secretsmanager", "GetSecretValue", secret_id=self.secret_id)
            self.fetches += 1
            secret = response.get("SecretString")
            if secret is None:
                raise InfrastructureError(
                    f"secret {self.secret_id} has no SecretString", secret_id=self.secret_id, retryable=False
                )
            self._value, self._fetched_at = secret, now
            return secret

    def invalidate(self) -> None:
        """Forget the cached value (e.g. after the processor rejected the key), so the next read fetches."""
        with self._lock:
            self._value = self._fetched_at = None
