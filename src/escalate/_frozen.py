"""A read-only, hashable dict for values that carry mappings (case fields)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(dict[K, V]):
    """A ``dict`` that refuses changes and hashes by content.

    It subclasses ``dict`` so that lookups stay as fast as a dict's; every method
    that would change it raises ``TypeError``.
    """

    __slots__ = ("_hash",)

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        super().__init__(items)
        self._hash: int | None = None

    def __hash__(self) -> int:  # type: ignore[override]
        if self._hash is None:
            self._hash = hash(frozenset(self.items()))
        return self._hash

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("FrozenMap is read-only; build a new one instead")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def merged(self, changes: Mapping[K, V]) -> FrozenMap[K, V]:
        """A new map with ``changes`` applied (a value of None removes the key)."""
        out = dict(self)
        for k, v in changes.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
        return FrozenMap(out)


def deep_freeze(value: Any) -> Any:
    """``value`` with its dicts as FrozenMaps and its lists as tuples, all the
    way down (JSON read back into the shape of frozen values)."""
    if isinstance(value, dict):
        return FrozenMap({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(deep_freeze(v) for v in value)
    return value
