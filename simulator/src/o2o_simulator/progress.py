"""What a running simulation shows: a bar per kind of activity (rich)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

KINDS = ("shoppers", "observations", "sales", "app calls")


class Progress:
    """Counters of the day, drawn live when shown (a terminal), silent otherwise (a test)."""

    def __init__(self, console: Console | None = None) -> None:
        self._bars = (
            Bars(TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                 console=console)
            if console is not None
            else None
        )  # fmt: skip
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Progress:
        if self._bars is not None:
            self._bars.__enter__()
            for kind in KINDS:
                self._tasks[kind] = self._bars.add_task(kind, total=None)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bars is not None:
            self._bars.__exit__(kind, error, trace)

    def start(self, kind: str, total: int) -> None:
        if self._bars is not None:
            self._bars.update(self._tasks[kind], total=total)

    def advance(self, kind: str) -> None:
        if self._bars is not None:
            self._bars.advance(self._tasks[kind])

    def say(self, text: str) -> None:
        if self._bars is not None:
            self._bars.console.log(text)
