"""Public names imported on first use (PEP 562), for packages whose import must stay light."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``.

    Each name in ``homes`` is imported from its home module when first read, then kept in
    ``namespace`` (the package's globals), so later reads are plain lookups.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's name
        home = homes.get(name)
        if home is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook's name
        return sorted({*namespace, *public})

    return __getattr__, __dir__


class _LazyModule:
    """A module imported on the first attribute read, whose attributes are then plain instance lookups."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name

    def __getattr__(self, attr: str) -> Any:
        module = import_module(self._lazy_name)
        self.__dict__.update(vars(module))  # later reads find the attributes without this hook
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


def lazy_module(name: str) -> Any:
    """``name`` imported when an attribute of it is first read (not when this is called).

    For modules that use an optional heavy library (NumPy) only inside functions that the row
    executor never calls: ``np = lazy_module("numpy")`` keeps ``import`` of the module light.
    Type checkers see the real module through an ``if TYPE_CHECKING: import numpy as np``.
    """
    return _LazyModule(name)
