"""Artifacts: where each stage writes (``paths``), writing so that a failure never leaves half a
file in place of a good one (``atomic``), and saving torch modules so that loading one can never
run code (``torch_io``). Imports nothing from the rest of ``genre``."""
