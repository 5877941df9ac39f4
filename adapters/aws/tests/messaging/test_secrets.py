"""SecretsManagerSecret on moto's Secrets Manager: fetched on first use only, cached for its TTL, refreshed after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aws_stack import Stack

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.testing.builders import T0
from fooddelivery_aws.secrets import SecretsManagerSecret


def test_the_secret_is_fetched_on_first_use_cached_for_its_ttl_then_fetched_again(stack: Stack) -> None:
    sm = stack.clients["secretsmanager"]
    arn = sm.create_secret(Name="payments/key", SecretString="sk_test_1")["ARN"]
    clock = VirtualClock(T0)
    secret = SecretsManagerSecret(arn, clock=clock, ttl=timedelta(minutes=5), client=sm)
    assert secret.fetches == 0  # nothing at construction

    assert secret.value() == "sk_test_1"
    sm.put_secret_value(SecretId=arn, SecretString="sk_test_2")  # rotated
    clock.advance(timedelta(minutes=4, seconds=59))
    assert secret.value() == "sk_test_1"
    assert secret.fetches == 1

    clock.advance(1)
    assert secret.value() == "sk_test_2"
    assert secret.fetches == 2


def test_invalidate_makes_the_next_read_fetch(stack: Stack) -> None:
    sm = stack.clients["secretsmanager"]
    arn = sm.create_secret(Name="payments/key", SecretString="old")["ARN"]
    secret = SecretsManagerSecret(arn, clock=VirtualClock(T0), client=sm)
    assert secret.value() == "old"
    sm.put_secret_value(SecretId=arn, SecretString="new")
    secret.invalidate()
    assert secret.value() == "new"


def test_a_missing_secret_is_an_infrastructure_error_naming_it(stack: Stack) -> None:
    secret = SecretsManagerSecret("nope", clock=VirtualClock(T0), client=stack.clients["secretsmanager"])
    with pytest.raises(InfrastructureError) as caught:
        secret.value()
    assert caught.value.context["code"] == "ResourceNotFoundException"
    assert caught.value.context["secret_id"] == "nope"


def test_a_binary_only_secret_is_refused(stack: Stack) -> None:
    sm = stack.clients["secretsmanager"]
    arn = sm.create_secret(Name="binary", SecretBinary=b"\x00\x01")["ARN"]
    with pytest.raises(InfrastructureError):
        SecretsManagerSecret(arn, clock=VirtualClock(T0), client=sm).value()
