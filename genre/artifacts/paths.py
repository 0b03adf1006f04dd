"""Where each stage writes. ``dvc.yaml`` declares the same paths as the stages' outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artifacts:
    root: Path

    # ingest
    @property
    def train_csv(self) -> Path:
        return self.root / "data/prepared/train.csv"

    @property
    def test_csv(self) -> Path:
        return self.root / "data/prepared/test.csv"

    @property
    def schema(self) -> Path:
        return self.root / "data/prepared/schema.yaml"

    @property
    def preprocessor(self) -> Path:
        return self.root / "data/prepared/preprocessor.json"

    @property
    def data_version(self) -> Path:
        """Which files the prepared data came from, and their digest (genre.stages.ingest.data_version)."""
        return self.root / "data/prepared/version.json"

    @property
    def validation_dir(self) -> Path:
        return self.root / "data/validation"

    @property
    def failed_validation_dir(self) -> Path:
        """Reports of refused deliveries: not a DVC output, so a failed run cannot replace the last good one."""
        return self.root / "data/validation-failed"

    # train_classifier
    @property
    def classifier(self) -> Path:
        return self.root / "data/models/classifier.pt"

    @property
    def ground_truth(self) -> Path:
        return self.root / "data/models/ground_truth.joblib"

    @property
    def accepted(self) -> Path:
        """Training rows the classifier approves, with its scores: the pool recourse retrieves from."""
        return self.root / "data/models/accepted.npz"

    @property
    def labels(self) -> Path:
        return self.root / "data/models/labels.npz"

    # synthesize_pairs
    @property
    def pairs(self) -> Path:
        return self.root / "data/pairs/q"

    # train_generator
    @property
    def generator(self) -> Path:
        return self.root / "data/models/generator.pt"

    # evaluate
    @property
    def recourses(self) -> Path:
        return self.root / "data/evaluation/recourses.csv"

    @property
    def selection(self) -> Path:
        """The selection rule evaluate chose (``recourse.selection: auto``) and each rule's score."""
        return self.root / "data/evaluation/selection.json"

    @property
    def actionability(self) -> Path:
        """What the answers evaluate found ask people to change, feature by feature."""
        return self.root / "metrics/actionability.json"

    # package
    @property
    def bento(self) -> Path:
        return self.root / "data/package/genre-recourse.bento"

    def metrics(self, stage: str) -> Path:
        return self.root / f"metrics/{stage}.json"

    def timings(self, stage: str) -> Path:
        """A stage's run times: neither git nor DVC tracks them (they differ on every run), so a
        rerun that changes nothing else leaves ``metrics/`` as git has it and DVC's outputs as
        it recorded them."""
        return self.root / f"metrics/timings/{stage}.json"

    def plot(self, name: str) -> Path:
        return self.root / f"plots/{name}.csv"
