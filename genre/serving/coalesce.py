"""Single requests that arrive together answered in one model call.

A lender's own model pays for every call more than for every row: a scikit-learn pipeline validates
and encodes its frame each time it is asked (``OwnModel``). Requests that arrive close together are
therefore answered together, grouped by their options (a group is one engine call), each caller
getting its own answer. What a caller gets does not depend on who it was grouped with: every
applicant's draws are seeded by its own values and the classifier scores each row alone
(``RecourseEngine``), and each request is checked on its own before it waits, so a bad one is
refused alone.

How long a group waits follows what a call costs. For the MLP, whose calls cost their rows, it is
answered ``serve.coalesce_ms`` after its first request. For a lender's model it keeps waiting
while requests keep arriving, each buying another ``coalesce_ms``, up to ``serve.coalesce_max_ms``
after the first (about one call's cost): groups grow while the server is busy, so a lender's model
answers more requests a second from many clients, at the price of a short wait from few. The MLP
is not made to wait that way: its calls are cheap, and waiting only cost it requests a second
(docs/decisions.md).

Everything runs on the service's event loop, like a lone request: the window only lets requests
that are already on their way be read before the group is answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(f"bentoml.{__name__}")  # under BentoML's tree, like the service's own lines

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """``await submit(key, item)`` -> ``answer(key, items)[i]`` for this item, where ``items`` are
    the ones submitted under the same ``key`` until ``window_s`` pass with no new one, or
    ``longest_s`` (at least ``window_s``; by default equal to it) after the first waiting one (at
    most ``max_items`` in one call; a full group is answered at once). An exception from
    ``answer`` reaches every caller of that group and no other."""

    def __init__(
        self,
        answer: Callable[[Hashable, Sequence[Item]], Sequence[Result]],
        window_s: float,
        max_items: int,
        longest_s: float | None = None,
    ) -> None:
        self.answer, self.window_s, self.max_items = answer, window_s, max_items
        self.longest_s = max(window_s, longest_s or 0.0)
        self.waiting: dict[Hashable, list[tuple[Item, asyncio.Future[Result]]]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.first: float | None = None  # when the first of the waiting ones arrived (loop time)

    async def submit(self, key: Hashable, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        group = self.waiting.setdefault(key, [])
        group.append((item, future))
        if len(group) >= self.max_items:
            self._answer(key, self.waiting.pop(key))
            if not self.waiting and self.timer is not None:  # nothing left to wait for
                self.timer.cancel()
                self.timer, self.first = None, None
        else:
            now = loop.time()
            self.first = now if self.first is None else self.first
            if self.timer is not None:
                self.timer.cancel()
            self.timer = loop.call_at(min(now + self.window_s, self.first + self.longest_s), self.flush)
        return await future

    def flush(self) -> None:
        """Answer every waiting group now (the window's end)."""
        self.timer, self.first = None, None
        waiting, self.waiting = self.waiting, {}
        for key, group in waiting.items():
            self._answer(key, group)

    def _answer(self, key: Hashable, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        logger.debug("%d requests answered in one call", len(group))
        try:
            results = self.answer(key, [item for item, _ in group])
        except Exception as exc:  # noqa: BLE001 -- handed to each waiting caller, whose request then fails with it
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():  # a caller that went away was cancelled
                future.set_result(result)
