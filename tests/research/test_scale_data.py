"""Adult-shaped data at any size: Adult's own balance and dependence, values a real applicant has."""

from __future__ import annotations

from pathlib import Path

from genre.data.datasets import read_raw
from genre.data.schema import load_schema
from genre.data.validation import validate_frame
from research.scale_data import adult_like

ADULT = Path(__file__).resolve().parents[2] / "data/raw/adult"


def test_adult_like_rows_keep_adults_shape_and_pass_its_schema() -> None:
    schema = load_schema(ADULT / "schema.yaml")
    adult = read_raw(ADULT / "train.csv.gz", schema)
    rows = adult_like(adult, schema, 60_000, seed=1)
    assert len(rows) == 60_000 and list(rows.columns) == list(adult.columns)
    assert not validate_frame(rows, schema).failures  # bounds, integers, categories: the schema's suite
    assert abs(rows["income"].mean() - adult["income"].mean()) < 0.01  # class balance
    for a, b in (("education-num", "income"), ("age", "hours-per-week")):  # dependence between columns
        assert abs(rows[a].corr(rows[b]) - adult[a].corr(adult[b])) < 0.03
    assert rows.duplicated().mean() < 0.01  # not Adult's rows copied: resampled rows are moved apart
    assert (
        abs((rows["capital-gain"] == 0).mean() - (adult["capital-gain"] == 0).mean()) < 0.01
    )  # a mostly-zero column keeps its zeros
