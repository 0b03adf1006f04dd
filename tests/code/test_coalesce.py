"""Single requests answered together: one call per options group, each caller its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence

import pytest

from genre.serving.coalesce import Coalescer


class Recorder:
    """An answer function that records its calls and doubles each item (refusing ``"bad"`` keys)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Hashable, list[int]]] = []

    def __call__(self, key: Hashable, items: Sequence[int]) -> list[int]:
        self.calls.append((key, list(items)))
        if key == "bad":
            raise RuntimeError("the model failed")
        return [2 * item for item in items]


def run(coalescer: Coalescer, requests: list[tuple[str, int]]) -> list[object]:
    async def together() -> list[object]:
        return await asyncio.gather(*(coalescer.submit(key, item) for key, item in requests), return_exceptions=True)

    return asyncio.run(together())


def test_requests_arriving_together_share_one_call_per_options_group() -> None:
    answer = Recorder()
    coalescer = Coalescer(answer, window_s=0.01, max_items=100)
    results = run(coalescer, [("a", 1), ("b", 2), ("a", 3), ("a", 4), ("b", 5)])
    assert results == [2, 4, 6, 8, 10]  # each caller gets its own item's answer
    assert sorted(answer.calls) == [("a", [1, 3, 4]), ("b", [2, 5])]  # two calls, one per options group


def test_a_full_group_is_answered_without_waiting_for_the_window() -> None:
    answer = Recorder()
    coalescer = Coalescer(answer, window_s=60.0, max_items=2)  # the window would outlast the test

    async def two() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(coalescer.submit("a", 1), coalescer.submit("a", 2)), timeout=5)

    assert asyncio.run(two()) == [2, 4]
    assert answer.calls == [("a", [1, 2])]


def test_requests_after_the_window_are_answered_in_a_later_call() -> None:
    answer = Recorder()
    coalescer = Coalescer(answer, window_s=0.005, max_items=100)

    async def apart() -> list[int]:
        first = await coalescer.submit("a", 1)
        second = await coalescer.submit("a", 2)
        return [first, second]

    assert asyncio.run(apart()) == [2, 4]
    assert answer.calls == [("a", [1]), ("a", [2])]


def test_a_failing_group_fails_its_own_callers_only() -> None:
    answer = Recorder()
    results = run(Coalescer(answer, window_s=0.01, max_items=100), [("bad", 1), ("a", 2), ("bad", 3)])
    assert isinstance(results[0], RuntimeError) and isinstance(results[2], RuntimeError)
    assert results[1] == 4


def test_a_caller_that_went_away_does_not_break_the_others() -> None:
    answer = Recorder()
    coalescer = Coalescer(answer, window_s=0.02, max_items=100)

    async def one_leaves() -> int:
        leaving = asyncio.create_task(coalescer.submit("a", 1))
        staying = asyncio.create_task(coalescer.submit("a", 2))
        await asyncio.sleep(0)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert asyncio.run(one_leaves()) == 4
    assert answer.calls == [("a", [1, 2])]


def arriving(coalescer: Coalescer, gaps_s: list[float]) -> list[list[int]]:
    """Items 1, 2, ... submitted ``gaps_s`` apart (the first at once) -> the calls' items."""
    answer = coalescer.answer

    async def spaced() -> None:
        waiting = []
        for item, gap in enumerate(gaps_s, start=1):
            await asyncio.sleep(gap)
            waiting.append(asyncio.create_task(coalescer.submit("a", item)))
        await asyncio.gather(*waiting)

    asyncio.run(spaced())
    return [items for _, items in answer.calls]


@pytest.mark.parametrize(("longest_s", "calls"), [(None, [[1, 2], [3]]), (2.0, [[1, 2, 3]]), (0.5, [[1, 2, 3], [4]])])
def test_a_group_waits_while_requests_keep_arriving_up_to_its_longest(
    longest_s: float | None, calls: list[list[int]]
) -> None:
    """Requests 0.2 s apart with a 0.3 s window: by default the window counts from the first (the
    third comes after it), with a longest wait each arrival buys another window, up to that long
    after the first (0.5 s: the fourth, at 0.6 s, comes after it)."""
    gaps = [0.0, 0.2, 0.2] + ([0.2] if longest_s == 0.5 else [])
    assert arriving(Coalescer(Recorder(), window_s=0.3, max_items=100, longest_s=longest_s), gaps) == calls
