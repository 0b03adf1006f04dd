"""The data contract: the dataset schema (``schema``), the Great Expectations suite generated from
it (``validation``), raw rows <-> the scaled feature space every model works in
(``preprocessing``), and loading the prepared splits (``datasets``). May import ``settings`` and
``artifacts`` only: everything else is built on it."""
