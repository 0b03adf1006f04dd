"""Stage 6, package: the trained model into BentoML's model store, the service into a bento, and
the bento into one portable file (``data/package/genre-recourse.bento``) that DVC tracks. The
first model a project packages becomes production; later ones wait to be promoted
(``genre.serving.production``).

Each model is labelled with the data version it learnt from and carries a sample of its training
rows (``reference.csv.gz``): retraining checks new batches for drift against the data the
production model was trained on, which the workspace may since have moved past.

The bundle is loaded back before the model is committed to the store, so a model that the service
could not load never gets a version there. Store locations follow ``BENTOML_HOME`` (BentoML reads
it itself, once per process).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

import bentoml
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from genre.artifacts.atomic import write_json
from genre.artifacts.metrics_file import held_out_auc
from genre.artifacts.paths import Artifacts
from genre.data.datasets import read_raw
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema, load_schema
from genre.evaluation.actionability import most_moved
from genre.models.classifier_file import load_classifier
from genre.models.own_model import OwnModel
from genre.offline import go_offline
from genre.recourse.engine import resolved
from genre.serving.bundle import PARAMS, chosen_rule, load_bundle, write_bundle
from genre.serving.production import HELD_OUT_AUC, REFERENCE, production, promote
from genre.settings import Settings

BENTOFILE = "bentofile.yaml"
REFERENCE_ROWS = 20_000  # drift tests on this many rows are as sure as on millions, and the model stays small


def schema_fingerprint(schema: DatasetSchema) -> str:
    """A short digest of the data schema, so a model and a bento say which input they expect
    (two models trained on the same schema share it; any change of features, kinds or bounds
    changes it; how answers name a feature and its unit do not)."""
    expected = schema.model_dump(mode="json", exclude={"features": {"__all__": {"label", "unit"}}})
    canonical = json.dumps(expected, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def model_labels(schema: DatasetSchema, settings: Settings) -> dict[str, str]:
    """Labels are strings BentoML can filter on; details go in metadata (``bentoml models get``)."""
    return {
        "project": "genre",
        "dataset": schema.name,
        "schema": schema_fingerprint(schema),
        "target": schema.target.name,
        "selection": settings.recourse.selection,
        "plausible_first": str(settings.recourse.plausible_first).lower(),
        "threshold": str(settings.recourse.threshold),
    }


def model_metadata(schema: DatasetSchema, settings: Settings, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": data,  # the data version and the files it is made of (data/prepared/version.json)
        "dataset": schema.name,
        "features": schema.feature_names,
        "immutable": [name for name, spec in schema.features.items() if spec.immutable],
        "recourse": settings.recourse.model_dump(),
        "serve": settings.serve.model_dump(
            exclude_none=True
        ),  # BentoML metadata holds no None: an unset answer_log is left out
        "schema": schema.model_dump(mode="json", exclude_defaults=True),
    }


def save_model(settings: Settings) -> bentoml.Model:
    """Bundle the trained artifacts into a new version of the model in the store."""
    paths = Artifacts(settings.root)
    schema = load_schema(paths.schema)
    # The threshold as a number (``auto`` resolved by the classifier it came with) and the selection
    # rule evaluate chose, in the labels, the metadata and the bundle: what the served model applies
    # is read without loading it.
    classifier = load_classifier(paths.classifier, Preprocessor.load(paths.preprocessor))
    params = settings.written_out()  # as trained, before the choices are resolved: a sibling retrains by them
    settings = settings.model_copy(update={"recourse": resolved(chosen_rule(paths, settings.recourse), classifier)})
    data = json.loads(paths.data_version.read_text())
    held_out = held_out_auc(paths)  # left out where unmeasured: intake then compares with the training rows
    own = isinstance(classifier, OwnModel)
    with bentoml.models.create(
        name=settings.package.model_name,
        # which h the recourse flips: the protocol's MLP, or the lender's own model
        labels=model_labels(schema, settings)
        | {"classifier": "own" if own else "mlp", "data_version": data["version"]},
        # what serving it needs installed beyond the service's own packages: a lender's model's libraries
        metadata=model_metadata(schema, settings, data)
        | {"packages": classifier.distributions() if isinstance(classifier, OwnModel) else {}}
        | ({} if held_out is None else {HELD_OUT_AUC: held_out}),
    ) as model:
        folder = Path(model.path)
        write_bundle(paths, settings.recourse, folder, settings.serve)
        (folder / PARAMS).write_text(yaml.safe_dump(params, sort_keys=False))
        train = read_raw(paths.train_csv, schema)
        train.sample(n=min(REFERENCE_ROWS, len(train)), random_state=0).to_csv(folder / REFERENCE, index=False)
        load_bundle(folder)  # raises inside the context, so a broken bundle is never saved
    return model


def bento_packages(pinned: list[str], needed: dict[str, str]) -> list[str]:
    """The bentofile's pins, then each distribution the model needs (``packages`` in its metadata)
    that they do not name, at the version it was trained and tested with."""
    named = {canonicalize_name(Requirement(line).name) for line in pinned}
    return [
        *pinned,
        *(f"{dist}=={version}" for dist, version in sorted(needed.items()) if canonicalize_name(dist) not in named),
    ]


def build_bento(settings: Settings, model: bentoml.Model) -> bentoml.Bento:
    """Build from the project's bentofile; the build imports the service from ``settings.root``.

    The bento is labelled with the model version and data schema it serves, so ``bentoml get``
    on a bento answers "which model, for which input" without serving it; its Python packages
    are the bentofile's and those the model needs (a lender's LightGBM), so the image that
    ``bentoml containerize`` makes of it can load the model.
    """
    root = Path(settings.root).resolve()
    config = yaml.safe_load((root / BENTOFILE).read_text())
    python = config.get("python") or {}
    python = {
        **python,
        "packages": bento_packages(
            python.get("packages") or [],
            cast("dict[str, str]", model.info.metadata.get("packages") or {}),  # save_model writes it: name -> version
        ),
    }
    labels = {
        **(config.get("labels") or {}),
        "model": str(model.tag),
        "dataset": model.info.labels["dataset"],
        "schema": model.info.labels["schema"],
    }
    return bentoml.bentos.build(
        **{**config, "name": settings.package.bento_name, "labels": labels, "python": python}, build_ctx=str(root)
    )


def export_bento(tag: bentoml.Tag | str, dest: Path) -> None:
    """Export beside ``dest`` and rename over it, so ``dest`` is always a whole bento or absent.

    BentoML appends ``.bento`` to a path that lacks it, so the export goes to a private folder
    under the final name and the path BentoML reports is what gets renamed. The path is made
    absolute first: BentoML turns it into a ``file://`` URL, where a relative path would be read
    from the filesystem root.
    """
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        written = bentoml.bentos.export_bento(tag, str(scratch / dest.name), output_format="bento")
        os.chmod(written, 0o644)
        os.replace(written, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(settings: Settings) -> dict[str, Any]:
    go_offline()  # BentoML reports usage by default; this stage may also be called outside a flow
    paths = Artifacts(Path(settings.root).resolve())
    model = save_model(settings)
    bento = build_bento(settings, model)
    export_bento(bento.tag, paths.bento)
    first = production(paths.root) is None
    if first:  # nothing serves yet: this model, past evaluate's floors, is the first production
        promote(
            paths.root,
            str(model.tag),
            by="first model",
            reason="no model was in production; this one passed evaluate's floors",
        )
    metrics: dict[str, Any] = {
        "model_tag": str(model.tag),
        "bento_tag": str(bento.tag),
        "bento_bytes": paths.bento.stat().st_size,
        "promoted": first,  # later models reach production only through `genre production promote`
    }
    write_json(paths.metrics("package"), metrics)
    if paths.actionability.is_file():  # the last stage: what the packaged model's answers ask of people, said once more
        print(most_moved(json.loads(paths.actionability.read_text())))
    return metrics
