"""Bind a generic implementation class to one algorithm id."""

from __future__ import annotations

from typing import Any, TypeVar

from ..interfaces import Implementation

__all__ = ["bind"]

T = TypeVar("T", bound=Implementation)


def bind(cls: type[T], algorithm: str, **attributes: Any) -> T:
    """Return an instance of a subclass of ``cls`` with ``algorithm`` and ``attributes`` set.

    One generic class serves every parameter set of a family (ML-KEM-512/768/1024);
    the subclass carries the per-set constants as class attributes.
    """
    subclass = type(cls.__name__, (cls,), {"algorithm": algorithm, **attributes})
    return subclass()
