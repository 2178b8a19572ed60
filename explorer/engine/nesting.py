"""Bounding how deep and how large untrusted plain data is (configs, recipes), without recursion.

Plain Python (no torch): recipe PNGs and checkpoint configs both use it.
"""

from __future__ import annotations


class NestingError(ValueError):
    """Data nested too deeply or holding too many values; the message says which."""


def check_nesting(obj, what='data', max_depth=32, max_items=100_000) -> None:
    """Refuse containers nested deeper than ``max_depth`` or holding more than ``max_items``
    entries in all (which also ends a container that holds itself). Iterative: no recursion."""
    stack = [(obj, 0)]
    items = 0
    while stack:
        x, depth = stack.pop()
        if isinstance(x, dict):
            children = list(x.keys()) + list(x.values())
        elif isinstance(x, (list, tuple, set, frozenset)):
            children = list(x)
        else:
            continue
        if depth >= max_depth:
            raise NestingError(f'{what} is nested more than {max_depth} levels deep')
        items += len(children)
        if items > max_items:
            raise NestingError(f'{what} holds more than {max_items} values')
        stack.extend((c, depth + 1) for c in children)
