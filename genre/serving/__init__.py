"""Answering people: the model bundle the CLI, evaluation and service load (``bundle``), per-field
checks of applicants in raw units (``applicants``), answers in raw units (``answers``), the
BentoML service (``service``) and the command line (``cli``). May import every layer up to
``recourse``; never ``evaluation`` or ``stages``, so the bento carries only what serving needs."""
