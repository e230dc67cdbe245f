"""A tiny inventory module: the README's first command completes inside it."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int


def total_value(items: list[Item]) -> float:
    """Sum of price times quantity over all items."""
    return sum(item.price * item.quantity for item in items)


def cheapest(items: list[Item]) -> Item:
    """The item with the lowest price."""
    return min(items, key=
