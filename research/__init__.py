"""The research benchmark: the paper's baselines (``wachter``, ``dice_baseline``), the paper's table
(``paper_benchmark``), the trade-off sweep (``tradeoff``) and the closed-form consistency world
(``synthetic``, ``consistency_experiment``). It uses the product (``genre``); nothing in the
product imports it, and the bento does not carry it. Its scripts are in ``benchmarks/``."""
