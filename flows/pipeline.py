"""The whole pipeline as one Prefect flow, each stage a subflow, for Prefect-only runs (``dvc
repro`` runs the same stage flows one by one; scheduled retraining, ``flows.retrain``, runs
``dvc repro`` so that ``dvc.lock`` records it)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.evaluate import evaluate_flow
from flows.ingest import ingest_flow
from flows.package import package_flow
from flows.stage import main, refused
from flows.synthesize_pairs import synthesize_pairs_flow
from flows.train_classifier import train_classifier_flow
from flows.train_generator import train_generator_flow
from genre.messages import InputError
from genre.retraining.lock import run_lock
from genre.settings import load_settings

STAGES = (ingest_flow, train_classifier_flow, synthesize_pairs_flow, train_generator_flow, evaluate_flow, package_flow)


@flow(name="genre-pipeline", log_prints=True)
def pipeline(params: str = "params.yaml") -> Any:
    """Every stage in order, holding the project's run lock throughout: a second run started
    meanwhile (scheduled or by hand) stops at once with one line, and never interleaves."""
    try:
        with run_lock(load_settings(params).root):
            return {stage.name: stage(params) for stage in STAGES}
    except InputError as exc:
        return refused("genre-pipeline", exc)


if __name__ == "__main__":
    main(pipeline)
