"""Unattended retraining: one run at a time (``lock``), and what decides whether a retrained
model may replace the one in production (``promises``)."""
