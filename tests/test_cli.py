"""The `fooddelivery` command line (simulate has its own suite in tests/simulation)."""

from __future__ import annotations

from click.testing import CliRunner

from fooddelivery.cli import main
from fooddelivery.domain.actors import Role
from fooddelivery.http.auth import DevAuthenticator
from fooddelivery.http.messages import HttpRequest


def _actor_of(token: str):  # type: ignore[no-untyped-def]
    request = HttpRequest.build("GET", "/health", headers={"Authorization": f"Bearer {token}"})
    return DevAuthenticator().authenticate(request)


def test_token_prints_a_development_token_the_dev_authenticator_accepts() -> None:
    result = CliRunner().invoke(
        main, ["token", "--role", "restaurant", "--sub", "owner-7", "--restaurant-id", "rest-7"]
    )
    assert result.exit_code == 0, result.output
    actor = _actor_of(result.output.strip())
    assert (actor.role, actor.subject, actor.restaurant_id) == (Role.RESTAURANT, "owner-7", "rest-7")


def test_token_for_a_customer_maps_the_subject_to_the_customer_id() -> None:
    result = CliRunner().invoke(main, ["token", "--role", "customer", "--sub", "user-1"])
    actor = _actor_of(result.output.strip())
    assert (actor.role, actor.subject) == (Role.CUSTOMER, "user-1")


def test_token_refuses_a_restaurant_role_without_its_restaurant() -> None:
    result = CliRunner().invoke(main, ["token", "--role", "restaurant", "--sub", "owner-7"])
    assert result.exit_code == 2
    assert "Error: --restaurant-id: a restaurant actor must name its restaurant" in result.output  # the flag


def test_token_refuses_a_driver_role_without_its_driver_naming_the_flag() -> None:
    result = CliRunner().invoke(main, ["token", "--role", "driver", "--sub", "courier-1"])
    assert result.exit_code == 2
    assert "Error: --driver-id: a driver actor must name its driver id" in result.output


def test_token_refuses_an_unknown_role() -> None:
    result = CliRunner().invoke(main, ["token", "--role", "chef", "--sub", "x"])
    assert result.exit_code == 2


def test_token_with_a_too_short_development_secret_is_a_clean_error_not_a_traceback() -> None:
    result = CliRunner().invoke(
        main, ["token", "--role", "customer", "--sub", "x"], env={"FOODDELIVERY_DEV_SECRET": "short"}
    )
    assert result.exit_code == 1
    assert "FOODDELIVERY_DEV_SECRET" in result.output and "32 bytes" in result.output
    assert "Traceback" not in result.output
