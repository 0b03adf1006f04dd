"""The ingest stage in a throwaway project: it must produce every artifact from good data, and a bad
delivery of data must stop it with a clear error while the previous good artifacts stay untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from genre.artifacts.paths import Artifacts
from genre.data.datasets import read_raw
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema, load_schema
from genre.data.validation import DataValidationError, build_expectations
from genre.settings import Settings, load_settings
from genre.stages import ingest

REPO = Path(__file__).resolve().parents[2]
ADULT = REPO / "data/raw/adult"
N_TRAIN, N_TEST = 300, 150


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return load_schema(ADULT / "schema.yaml")


@pytest.fixture(scope="module")
def samples(schema: DatasetSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small seeded samples of the embedded splits keep each ingest run to a couple of seconds."""
    train = read_raw(ADULT / "train.csv.gz", schema).sample(N_TRAIN, random_state=1)
    test = read_raw(ADULT / "test.csv.gz", schema).sample(N_TEST, random_state=1)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _project(
    root: Path, samples: tuple[pd.DataFrame, pd.DataFrame], *, with_test: bool = True, **ingest_overrides: object
) -> Settings:
    """Write raw CSVs and a params.yaml (the repo's, ingest section repointed) into ``root``."""
    train, test = samples
    (root / "raw").mkdir()
    train.to_csv(root / "raw/train.csv", index=False)
    test.to_csv(root / "raw/test.csv", index=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"].update(
        train_csv=str(root / "raw/train.csv"),
        test_csv=str(root / "raw/test.csv") if with_test else None,
        schema_path=str(ADULT / "schema.yaml"),
        **ingest_overrides,
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    settings = load_settings(root / "params.yaml")
    assert settings.root == root
    return settings


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file the stage owns, temporary leftovers included."""
    files = [p for d in ("data", "metrics") for p in (root / d).rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_ingest_writes_all_artifacts(
    tmp_path: Path, samples: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema
) -> None:
    """With a given test file the raw splits are kept as they are and every output is written."""
    settings = _project(tmp_path, samples)
    summary = ingest.run(settings)
    paths = Artifacts(tmp_path)

    for path in (
        paths.train_csv,
        paths.test_csv,
        paths.schema,
        paths.preprocessor,
        paths.validation_dir / "train.json",
        paths.validation_dir / "test.json",
        paths.metrics("ingest"),
    ):
        assert path.is_file(), path
    assert (paths.validation_dir / "docs/train/index.html").is_file()

    metrics = json.loads(paths.metrics("ingest").read_text())
    assert metrics == summary
    assert metrics["rows_train"] == N_TRAIN
    assert metrics["rows_test"] == N_TEST
    assert metrics["expectations_checked"] == 2 * len(build_expectations(schema))
    train, test = samples
    assert metrics["favourable_rate_train"] == pytest.approx((train["income"] == 1).mean())

    pd.testing.assert_frame_equal(read_raw(paths.train_csv, schema), train[schema.columns])
    pd.testing.assert_frame_equal(read_raw(paths.test_csv, schema), test[schema.columns])
    assert load_schema(paths.schema) == schema
    pre = Preprocessor.load(paths.preprocessor)
    assert pre.transform(train).min() == 0.0 and pre.transform(train).max() == 1.0
    for name in ("train", "test"):
        assert json.loads((paths.validation_dir / f"{name}.json").read_text())["success"] is True


def test_bad_delivery_fails_and_keeps_previous_artifacts(
    tmp_path: Path, samples: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema
) -> None:
    """The key data test: a corrupted train CSV raises naming columns and values, and changes nothing."""
    settings = _project(tmp_path, samples)
    ingest.run(settings)
    before = _snapshot(tmp_path)
    assert "data/prepared/train.csv" in before and "data/validation/train.json" in before

    raw_train = tmp_path / "raw/train.csv"
    bad = read_raw(raw_train, schema).astype({"age": "int64"})
    bad.loc[3, "workclass"] = "Self-Employed"
    bad.loc[5, "age"] = 150
    bad.to_csv(raw_train, index=False)

    with pytest.raises(DataValidationError) as excinfo:
        ingest.run(settings)
    message = str(excinfo.value)
    assert str(raw_train) in message
    assert "failed validation (2 problems)" in message
    lines = message.splitlines()[1:]
    assert any("column 'workclass'" in line and "['Self-Employed']" in line for line in lines), message
    assert any("column 'age'" in line and "[150]" in line for line in lines), message

    after = _snapshot(tmp_path)
    kept = {name for name in after if name.startswith("data/validation-failed/")}
    assert {name: after[name] for name in after.keys() - kept} == before
    # The refused delivery's report is kept beside the last good one, and the message says where.
    assert lines[-1].startswith("  the full report (GX results, Data Docs): "), message
    report = Path(lines[-1].split(": ", 1)[1])
    assert report.parent == tmp_path / "data/validation-failed"
    assert json.loads((report / "train.json").read_text())["success"] is False
    assert (report / "docs/train/index.html").is_file()
    assert {str((report / "train.json").relative_to(tmp_path))} <= kept


def test_split_without_test_csv_is_seeded_partition(
    tmp_path: Path, samples: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema
) -> None:
    """Without a test file the train file is split by test_fraction; the seed makes it reproducible."""
    settings = _project(tmp_path, samples, with_test=False, test_fraction=0.2, seed=3)
    train, test, results, _ = ingest.split(settings, schema)
    assert set(results) == {"train"}
    assert (len(train), len(test)) == (N_TRAIN - 60, 60)

    source = samples[0][schema.columns]
    pd.testing.assert_frame_equal(_sorted(pd.concat([train, test])), _sorted(source))
    assert not test.equals(source.head(60).reset_index(drop=True)), "rows must be shuffled before splitting"

    again_train, again_test, _, _ = ingest.split(settings, schema)
    pd.testing.assert_frame_equal(again_train, train)
    pd.testing.assert_frame_equal(again_test, test)


def test_sample_rows_caps_each_split(
    tmp_path: Path, samples: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema
) -> None:
    """sample_rows caps both splits (for quick experiments), after the seeded split of the train file."""
    settings = _project(tmp_path, samples, with_test=False, test_fraction=0.25, sample_rows=50)
    summary = ingest.run(settings)
    assert (summary["rows_train"], summary["rows_test"]) == (50, 50)

    paths = Artifacts(tmp_path)
    train = read_raw(paths.train_csv, schema)
    test = read_raw(paths.test_csv, schema)
    assert (len(train), len(test)) == (50, 50)
    assert not (paths.validation_dir / "test.json").exists()
    # The capped splits come from disjoint parts of the source: together no row is used more often
    # than it occurs there.
    used = pd.concat([train, test]).value_counts()
    available = samples[0][schema.columns].value_counts().reindex(used.index, fill_value=0)
    assert (used <= available).all()


def test_accepted_batches_join_the_training_split_in_name_order_and_make_a_new_data_version(
    tmp_path: Path, samples: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema
) -> None:
    """Batches retraining accepted are validated like the raw files and appended to train (test
    untouched); the data version changes with their bytes and names them."""
    settings = _project(tmp_path, samples, batches=str(tmp_path / "accepted"))
    before = ingest.run(settings)
    version_before = json.loads(Artifacts(tmp_path).data_version.read_text())
    assert (before["batches"], before["data_version"]) == (0, version_before["version"])
    assert [f["name"] for f in version_before["files"]] == ["train", "test"]

    extra = read_raw(ADULT / "train.csv.gz", schema).sample(40, random_state=7).reset_index(drop=True)
    (tmp_path / "accepted").mkdir()
    extra.iloc[20:].to_csv(tmp_path / "accepted/2026-02-batch.csv", index=False)
    extra.iloc[:20].to_csv(tmp_path / "accepted/2026-01-batch.csv", index=False)
    (tmp_path / "accepted/README.md").write_text("not a batch")
    after = ingest.run(settings)
    version = json.loads(Artifacts(tmp_path).data_version.read_text())
    assert (after["rows_train"], after["rows_test"], after["batches"]) == (N_TRAIN + 40, N_TEST, 2)
    assert [f["name"] for f in version["files"]] == [
        "train",
        "test",
        "batch 2026-01-batch.csv",
        "batch 2026-02-batch.csv",
    ]
    assert after["data_version"] == version["version"] != version_before["version"]
    train = read_raw(Artifacts(tmp_path).train_csv, schema)
    pd.testing.assert_frame_equal(train.tail(40).reset_index(drop=True), extra[schema.columns], check_dtype=False)

    ingest.run(settings)  # the same files again: the same version
    assert json.loads(Artifacts(tmp_path).data_version.read_text())["version"] == version["version"]
    broken = extra.iloc[:5].assign(age=-3)
    broken.to_csv(tmp_path / "accepted/2026-03-batch.csv", index=False)
    with pytest.raises(DataValidationError, match="2026-03-batch.csv failed validation"):
        ingest.run(settings)
