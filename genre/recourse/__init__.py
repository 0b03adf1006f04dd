"""Recourse itself: the cost of a move (``cost``), the synthesised supervision pairs Q(x+ | x-)
(``pairs``), and the engine that samples candidates from a generator, makes them actionable and
selects one (``engine``). May import ``settings``, ``artifacts``, ``data`` and ``models``."""
