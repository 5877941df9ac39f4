"""Order ids derived from (customer, idempotency key): the same pair always names the same order, and an id shares
nothing recognisable with its inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fooddelivery.domain.catalog import check_id
from fooddelivery.domain.order import order_id_for_key

printable = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=255)


def test_the_same_customer_and_key_always_name_the_same_order() -> None:
    assert order_id_for_key("cus-1", "checkout-42") == order_id_for_key("cus-1", "checkout-42")
    assert order_id_for_key("cus-1", "checkout-42") == "ord-" + order_id_for_key("cus-1", "checkout-42")[4:]


def test_another_customer_or_another_key_names_another_order() -> None:
    ids = {order_id_for_key(c, k) for c in ("cus-1", "cus-2") for k in ("a", "b")}
    assert len(ids) == 4


def test_a_separator_inside_the_inputs_cannot_make_two_pairs_collide() -> None:
    assert order_id_for_key("a-b", "c") != order_id_for_key("a", "b-c")
    assert order_id_for_key("a", "bc") != order_id_for_key("ab", "c")


@given(customer=printable, key=printable)
def test_every_derived_id_is_a_valid_opaque_order_id(customer: str, key: str) -> None:
    order_id = order_id_for_key(customer, key)
    assert check_id(order_id, "order_id") == order_id
    assert len(order_id) == 36 and order_id.startswith("ord-")
    assert all(c in "0123456789abcdef" for c in order_id[4:])
