"""Settings that made every order be charged and then stranded.

``FOODDELIVERY_CONFIRMATION_TIMEOUT_S=inf`` (or ``1e12``: a timer past the year 9999) was accepted; each saga then
captured the payment and died arming the restaurant timeout (``OverflowError``, dead-lettered), leaving the order
PENDING, paid, never refunded. An infinite driver radius failed every order at driver assignment. A bad setting
must fail at start-up, naming the variable.
"""

from __future__ import annotations

import pytest

from fooddelivery.bootstrap import Settings
from fooddelivery.domain import ValidationError

BAD = {
    "FOODDELIVERY_CONFIRMATION_TIMEOUT_S": ["inf", "1e400", "1e12"],
    "FOODDELIVERY_DRIVER_RADIUS_KM": ["inf"],
    "FOODDELIVERY_AVERAGE_SPEED_KMH": ["infinity"],
}


@pytest.mark.parametrize(("variable", "raw"), [(var, raw) for var, raws in BAD.items() for raw in raws], ids=str)
def test_an_infinite_or_unschedulable_setting_is_refused_at_start_up_naming_the_variable(
    variable: str, raw: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings.from_env({variable: raw})

    assert [f.field for f in exc.value.fields] == [variable]


def test_a_settings_object_built_directly_with_an_infinite_timeout_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(confirmation_timeout_s=float("inf"))

    assert [f.field for f in exc.value.fields] == ["confirmation_timeout_s"]


def test_ordinary_settings_are_still_accepted() -> None:
    settings = Settings.from_env(
        {
            "FOODDELIVERY_CONFIRMATION_TIMEOUT_S": "0.5",
            "FOODDELIVERY_DRIVER_RADIUS_KM": "12.5",
            "FOODDELIVERY_DRIVER_CANDIDATES": "3",
            "FOODDELIVERY_AVERAGE_SPEED_KMH": "30",
        }
    )

    assert settings == Settings(0.5, 12.5, 3, 30.0)
    assert Settings(confirmation_timeout_s=7 * 24 * 3600).confirmation_timeout_s == 604800
