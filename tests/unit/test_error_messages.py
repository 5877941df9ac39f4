"""What a library user sees of a typed error in a traceback or a log line: ``str(error)`` names the invalid fields."""

from __future__ import annotations

import pytest

from fooddelivery.domain.errors import CatalogMismatch, FieldError, NotFound, PriceChanged, ValidationError


def test_a_validation_error_shows_each_invalid_field_after_its_summary() -> None:
    error = ValidationError(
        "the order is invalid",
        [FieldError("lines.0.quantity", "must be 1..99", "out_of_range"), FieldError("lines", "must not be empty")],
    )

    assert str(error) == "the order is invalid (lines.0.quantity: must be 1..99; lines: must not be empty)"
    assert error.detail == "the order is invalid"  # what HTTP problem bodies carry, next to their errors


def test_a_field_the_detail_already_names_is_not_repeated() -> None:
    assert str(ValidationError.single("body", "not JSON")) == "body: not JSON"
    assert str(ValidationError("nothing to name")) == "nothing to name"
    assert str(ValidationError("", [FieldError("x", "wrong")])) == "x: wrong"  # no detail: the fields alone


def test_the_subclasses_show_their_fields_too() -> None:
    mismatch = CatalogMismatch(
        "the order does not match the restaurant as it is now: re-read it",
        [FieldError("lines.0.name", "no menu item with name 'Burger'", "unknown_item")],
    )
    assert str(mismatch).endswith("(lines.0.name: no menu item with name 'Burger')")
    changed = PriceChanged("prices changed: re-read the menu", [FieldError("lines.0.price", "is 15.99, not 1.00")])
    assert str(changed) == "prices changed: re-read the menu (lines.0.price: is 15.99, not 1.00)"


def test_more_than_five_fields_are_counted_not_listed() -> None:
    error = ValidationError("bad", [FieldError(f"f{i}", "wrong") for i in range(8)])

    assert str(error) == "bad (f0: wrong; f1: wrong; f2: wrong; f3: wrong; f4: wrong; and 3 more)"


def test_pytest_raises_match_still_finds_the_summary_and_other_errors_are_unchanged() -> None:
    with pytest.raises(ValidationError, match=r"^the order is invalid"):
        raise ValidationError("the order is invalid", [FieldError("x", "y")])
    assert str(NotFound("no order ord-1")) == "no order ord-1"
