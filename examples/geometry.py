"""Small geometry helpers: the bodies marked as stubs are filled by `dgemma-lsp fill examples/`."""

import math


def circle_area(radius: float) -> float:
    """Area of a circle of the given radius."""
    return math.pi * radius * radius


def circle_perimeter(radius: float) -> float:
    """Perimeter of a circle of the given radius."""
    raise NotImplementedError


def clamp(value: float, low: float, high: float) -> float:
    """`value` limited to the range [low, high]."""
    pass


def mean(values: list[float]) -> float:
    """Arithmetic mean of a non-empty list."""
    ...
