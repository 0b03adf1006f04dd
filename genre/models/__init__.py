"""The models: the classifier h whose decisions are explained (``classifiers``), the calibrated
forest that plays the world (``ground_truth``), the generators R(x+ | x-) (``cvae``,
``transformer``; ``generators`` loads either by kind) and the pair-training loop they share
(``training``). May import ``settings``, ``artifacts`` and ``data``; never ``recourse`` and up,
which use the models."""
