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

# A generator of steps returning T. What it yields is for its driver: the claim's steps
# yield True while inside its writes (see jobs._send_chunk), everything else None.
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
        self.writing = False  # the last step yielded True: inside a write section
        self.value: T | None = None

    def step(self) -> bool:
        """Run one step; return True while more remain."""
        if self.done:
            return False
        try:
            self.writing = bool(next(self.steps))
        except StopIteration as stop:
            self.done, self.writing, self.value = True, False, stop.value
            return False
        return True

    def finish(self) -> T | None:
        while self.step():
            pass
        return self.value


def writes(steps: Steps[T]) -> Steps[T]:
    """The same steps, each marked as part of a write section."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
        yield True
