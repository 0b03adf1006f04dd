"""The six pipeline stages, in order: ``ingest``, ``train_classifier``, ``synthesize_pairs``,
``train_generator``, ``evaluate``, ``package``. Each is one ``run(settings)`` that reads the
previous stages' artifacts and writes its own; each has one thin Prefect flow (``flows/``) and one
DVC stage (``dvc.yaml``). Stages may import every other layer but never each other: what two
stages share lives in a layer below them."""
