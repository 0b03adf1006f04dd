"""Unattended retraining: new data in (``intake``), a challenger trained and judged (``run``,
``gate``), every decision recorded (``record``, ``pictures``), one run at a time (``lock``)."""
