"""Judging recourse the protocol's way: validity, plausibility and cost (``metrics``), whether the
generator learned Q (``consistency``), and the nearest-neighbour baseline it must beat
(``baselines``). May import every layer up to ``recourse``; only the evaluate stage and the
research benchmark use it, never the service."""
