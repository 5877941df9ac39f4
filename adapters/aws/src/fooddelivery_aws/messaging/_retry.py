"""The batch-send loop shared by the batching publishers: send a call's entries, then retry only the entries that
failed transiently, with jittered exponential backoff.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

__all__ = ["send_retrying"]

_E = TypeVar("_E")


def send_retrying(
    batch: list[tuple[str, _E]],
    attempt: Callable[[list[tuple[str, _E]]], tuple[dict[str, str], list[tuple[str, _E]], bool]],
    *,
    max_attempts: int,
    base_delay_s: float,
    sleep: Callable[[float], None],
) -> tuple[dict[str, str], bool]:
    """Send ``batch`` (``(event id, entry)`` pairs) with ``attempt``, retrying only the entries it says to retry.

    Args:
        batch: the entries of one call.
        attempt: sends the entries given, once; returns ``(event id -> error code of the failed entries, the
            entries to send again, whether a failure is permanent)``. It raises when the call itself fails.
        max_attempts: attempts in all (first try included), >= 1.
        base_delay_s: before retry ``n`` it sleeps a random time in ``[0, base * 2**(n-1)]``.
        sleep: the sleep function.

    Returns:
        ``(event id -> error code of the entries left failed, whether one of those failures is permanent)``:
        ``({}, False)`` once every entry is accepted; a permanent failure stops the retries (retrying the others
        cannot make the call whole).
    """
    pending = batch
    errors: dict[str, str] = {}
    for number in range(1, max_attempts + 1):
        if number > 1:
            sleep(random.uniform(0.0, base_delay_s * 2 ** (number - 2)))
        errors, retry, permanent = attempt(pending)
        if not errors:
            return {}, False
        if permanent:
            return errors, True
        pending = retry
    return errors, False
