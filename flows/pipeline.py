"""The whole pipeline as one Prefect flow, each stage a subflow: for Prefect-only runs and the
scheduled retraining deployment (``dvc repro`` runs the same stage flows one by one)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.evaluate import evaluate_flow
from flows.ingest import ingest_flow
from flows.package import package_flow
from flows.stage import main
from flows.synthesize_pairs import synthesize_pairs_flow
from flows.train_classifier import train_classifier_flow
from flows.train_generator import train_generator_flow

STAGES = (ingest_flow, train_classifier_flow, synthesize_pairs_flow, train_generator_flow, evaluate_flow, package_flow)


@flow(name="genre-pipeline", log_prints=True)
def pipeline(params: str = "params.yaml") -> dict[str, Any]:
    return {stage.name: stage(params) for stage in STAGES}


if __name__ == "__main__":
    main(pipeline)
