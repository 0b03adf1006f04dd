"""GenRe, generative algorithmic recourse, as a product: the library the pipeline's stages, the
CLI and the served model are built from.

The subpackages are layers; each imports only from the layers above it in this list, so the
direction of every dependency can be read off the tree (``tests/code/test_layout.py`` checks it):

* ``messages``, ``processes``, ``strict_yaml``, ``settings``, ``config_reference``, ``offline``,
  ``who``: quoting foreign text in one line, child processes that die with their parent, reading
  YAML strictly, the one typed settings object and the reference page written from it, the
  run-time switches, who is acting (for records);
* ``parallel``: where per-chunk work runs (here, or on a Dask cluster), chosen in ``params.yaml``;
* ``artifacts``: where each stage writes, and how (atomically, torch modules without pickle);
* ``data``: the data contract: schema, its Great Expectations suite, the scaled feature space;
* ``models``: the classifier h, the ground-truth forest, the generators R(x+ | x-) and their training;
* ``recourse``: cost, the synthesised pairs Q(x+ | x-), and sampling, constraining and selecting recourse;
* ``evaluation``: the protocol's metrics, the consistency check and the NNR baseline;
* ``serving``: the model bundle, input checks, answers in raw units, the BentoML service and the CLI;
* ``stages``: the six pipeline stages, one module per DVC stage and Prefect flow;
* ``retraining``: what unattended retraining adds around the stages: new batches validated,
  checked for drift and taken in; one run at a time; the gate that decides whether a retrained
  model may replace production; and the record of every decision;
* ``cli``: the ``genre`` command, over all of it.

The research benchmark (Wachter, DiCE, the paper's table) lives outside, in ``research``.
"""
