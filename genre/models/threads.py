"""How many threads torch may use while a small model trains.

A model this size (a 10-wide MLP, a 64-wide CVAE) spends its step in dispatch, not arithmetic; more
threads only add synchronisation, and on a busy 2-core machine a tiny model trained with torch's
default thread count ran 5-10 times slower than with one. So training sets the count it was given
and puts the process's own back afterwards (the same process may go on to serve or evaluate).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
