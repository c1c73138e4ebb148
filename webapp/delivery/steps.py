"""Work in small steps, for a batch job to run while an SMTP server answers a command.

A server answers each command in a quarter of a millisecond or so; database work done in
that time costs nothing, but a step that runs past the reply keeps the server waiting.
So the job's bookkeeping is written as generators that yield between pieces of work of
about that size, and return their result at the end.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# A generator of steps returning T. A step that leaves related rows half written (a
# credential without its audit event, say) yields True: no commit may come before the
# next step. Any other step yields None or False.
Steps = Generator[Any, None, T]


def run(steps: Steps[T]) -> T:
    """Run every step at once and return the result."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


class Stepper(Generic[T]):
    """Drive steps one at a time, keeping the result and what the last step said."""

    def __init__(self, steps: Steps[T]) -> None:
        self.steps = steps
        self.done = False
        self.half_written = False  # the last step yielded True: no commit may come yet
        self.value: T | None = None

    def step(self) -> bool:
        """Run one step; return True while more remain."""
        if self.done:
            return False
        try:
            self.half_written = bool(next(self.steps))
        except StopIteration as stop:
            self.done, self.half_written, self.value = True, False, stop.value
            return False
        return True

    def finish(self) -> T | None:
        while self.step():
            pass
        return self.value
