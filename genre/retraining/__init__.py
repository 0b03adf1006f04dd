"""Unattended retraining: one run at a time (``lock``)."""
