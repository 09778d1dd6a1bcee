"""Progress reporting without a UI dependency: the CLI plugs a progress bar in, the rest stays silent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    """``with progress(label, total) as advance: advance(n)``."""

    def __call__(self, label: str, total: int) -> AbstractContextManager[Advance]: ...


def _ignore(_n: int) -> None:
    return None


@contextmanager
def silent(label: str, total: int) -> Iterator[Advance]:
    yield _ignore
