"""The datasets the benchmarks run GenRe on, each as a user would bring it: the paper's splits with
their schemas, Adult as published and the messy corpus with the schema ``genre schema infer``
writes (plus the marks the README asks for), and Adult explained for a lender's own model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io
import yaml

from genre.data.inference import infer_schema
from genre.data.schema import DatasetSchema, FeatureSpec
from genre.offline import go_offline
from research import messy_corpus
from research.lender_model import fit_lender_model
from research.paper_benchmark import DatasetRun
from research.provenance import head_commit

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "benchmarks/datasets"
UNBALANCED = {"train_classifier": {"class_balanced": False}}
LENDER_MODEL = "models/lender.skops"


def marked(schema: DatasetSchema, marks: dict[str, str]) -> DatasetSchema:
    """The README's one hand edit: ``immutable: true`` or a direction added to a feature."""

    def mark(spec: FeatureSpec, text: str) -> FeatureSpec:
        update = yaml.safe_load("{" + text + "}")
        if update.get("immutable"):  # what the schema infer guessed of a feature's changes goes with them
            update |= {"min_change": None, "max_change": None, "direction": None}
        return FeatureSpec.model_validate(spec.model_dump() | update)

    features = {n: mark(f, marks[n]) if n in marks else f for n, f in schema.features.items()}
    return schema.model_copy(update={"features": features})


def inferred_run(
    name: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    marks: dict[str, str],
    folder: Path,
    overrides: dict,
) -> DatasetRun:
    """Frames written as CSV, their schema inferred as ``genre schema infer`` would, then marked."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "train.csv", folder / "test.csv"
    for frame, path in zip((train, test), paths, strict=True):
        frame.to_csv(path, index=False)
    text = [pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""]) for p in paths]
    schema = infer_schema(pd.concat(text, ignore_index=True), target, name=name, min_rows=min(map(len, text))).schema
    (folder / "schema.yaml").write_text(marked(schema, marks).to_yaml())
    return DatasetRun(name, *paths, folder / "schema.yaml", overrides)


def dataset_run(name: str, shared: Path, scratch: Path) -> tuple[DatasetRun, bytes | None]:
    """One dataset's run and, for the own-model one, the model file's bytes (built only when named:
    the corpus and the lender's model take minutes)."""

    def split(dataset: str) -> tuple[Path, Path]:
        return shared / dataset / "train.csv", shared / dataset / "test.csv"

    adult_schema = REPO / "data/raw/adult/schema.yaml"
    if name in ("adult", "compas", "heloc", "adult_person"):
        schema = {"adult": adult_schema, "adult_person": SPECS / "adult-person.schema.yaml"}.get(
            name, SPECS / f"{name}.schema.yaml"
        )
        return DatasetRun(
            name, *split(name.removesuffix("_person")), schema, UNBALANCED if name == "heloc" else {}
        ), None
    if name == "adult_raw":
        raw = [
            pd.read_csv(shared / "adult-raw" / f"{s}.csv.gz", dtype=str, keep_default_na=False, na_values=[""])
            for s in ("train", "test")
        ]
        return inferred_run(
            name, *raw, "income", {"race": "immutable: true", "sex": "immutable: true"}, scratch / name, {}
        ), None
    if name == "adult_user_model":
        schema = DatasetSchema.model_validate(yaml.safe_load(adult_schema.read_text()))
        model = skops.io.dumps(fit_lender_model(pd.read_csv(split("adult")[0]), schema))
        own = {"train_classifier": {"model": LENDER_MODEL, "trusted_types": skops.io.get_untrusted_types(data=model)}}
        return DatasetRun(name, *split("adult"), adult_schema, own), model
    variant = messy_corpus.VARIANTS[name]
    advised = {variant.advised[0]: {variant.advised[1]: variant.advised[2]}} if variant.advised else {}
    return inferred_run(name, *variant.frames(shared), variant.target, variant.marks, scratch / name, advised), None


def started(
    parser: argparse.ArgumentParser, report: str
) -> tuple[argparse.Namespace, dict[str, Any], dict[str, Any], str]:
    """A benchmark over these datasets begun: its options parsed (with ``--datasets-dir``,
    ``--out`` and ``--fresh`` added), offline, -> (args, params.yaml, the report ``report`` held
    so far unless ``--fresh``, the commit). Datasets run before stay in the report; those run now
    replace theirs."""
    parser.add_argument("--datasets-dir", type=Path, default=REPO.parent / "shared/datasets")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    go_offline()
    if not args.datasets_dir.is_dir():
        parser.error(f"no datasets folder at {args.datasets_dir}: pass --datasets-dir")
    stored = args.out / report
    held = json.loads(stored.read_text()) if stored.exists() and not args.fresh else {}
    return args, yaml.safe_load((REPO / "params.yaml").read_text()), held, head_commit()
