import math


def area(radius):
    """Area of a circle."""
    r2 = radius * radius
    return


def perimeter(radius):
    """Perimeter of a circle."""
    raise NotImplementedError
