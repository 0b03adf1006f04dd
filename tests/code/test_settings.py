"""params.yaml is read strictly: every problem is found at load, named with its line, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.schemas.schedules import CronSchedule

from genre.settings import ScheduleSettings, ServeSettings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
PARAMS = (REPO / "params.yaml").read_text()


def load_edited(tmp_path: Path, old: str, new: str) -> str:
    """The error message of loading the repo's params.yaml with one edit ("" if it loads)."""
    assert old in PARAMS, old
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS.replace(old, new, 1))
    try:
        load_settings(path)
    except SettingsError as exc:
        return str(exc)
    return ""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_committed_params_load() -> None:
    settings = load_settings(REPO / "params.yaml")
    assert settings.train_classifier.epochs == 100 and settings.recourse.threshold == "auto"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  epochs: 100", "  epochs: true", "train_classifier.epochs: Input should be a valid integer (got true)"),
        (
            "n_candidates: 300",
            'n_candidates: "300"',
            'recourse.n_candidates: Input should be a valid integer (got "300")',
        ),
        ("  lr: 0.001\n", '  lr: "0.001"\n', 'train_classifier.lr: Input should be a valid number (got "0.001")'),
        (
            "  class_balanced: true",
            "  class_balanced: 1",
            "train_classifier.class_balanced: Input should be a valid boolean (got 1)",
        ),
        (
            "  hidden: [10, 10, 10]",
            "  hidden: [10, 2.5, 10]",
            "train_classifier.hidden.1: Input should be a valid integer (got 2.5)",
        ),
        (
            "  seed: 0\n\ntrain_classifier",
            "  seed: 2020-01-01\n\ntrain_classifier",
            'ingest.seed: Input should be a valid integer (got "2020-01-01")',
        ),
        (
            "  rf_cv_folds: 5",
            "  rf_cv_folds: 5\n  rf_folds: 5",
            "train_classifier.rf_folds: Extra inputs are not permitted",
        ),
        (
            "threshold: auto\n",
            "threshold: automatic\n",
            "recourse.threshold: Input should be a valid number, or 'auto' (got \"automatic\")",
        ),
        (
            "batch_size: auto\n",
            'batch_size: "64"\n',
            "train_classifier.batch_size: Input should be a valid integer, or 'auto' (got \"64\")",
        ),
        ("kind: cvae", "kind: gan", "train_generator.kind: Input should be 'cvae' or 'transformer' (got \"gan\")"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(tmp_path: Path, old: str, new: str, expected: str) -> None:
    message = load_edited(tmp_path, old, new)
    edited = PARAMS.replace(old, new, 1)
    line = line_of(edited, new.strip().splitlines()[-1] if "rf_folds" in new else new.strip().splitlines()[0])
    assert message == f"{tmp_path / 'params.yaml'}:{line}: {expected}"


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    message = load_edited(tmp_path, "  epochs: 100\n", "  epochs: 100\n  epochs: 5\n")
    first = line_of(PARAMS, "  epochs: 100")
    assert (
        message == f"{tmp_path / 'params.yaml'}:{first + 1}: train_classifier.epochs: "
        f"written twice (first on line {first}); keep one"
    )


@pytest.mark.parametrize("cron", ["0 3 * *", "61 3 * * 1", "0 3 * * 1 2 3 4", "H 3 * * 1", "every monday"])
def test_a_cron_prefect_would_refuse_fails_at_load(tmp_path: Path, cron: str) -> None:
    message = load_edited(tmp_path, 'cron: "0 3 * * 1"', f'cron: "{cron}"')
    assert message.startswith(f"{tmp_path / 'params.yaml'}:{line_of(PARAMS, 'cron:')}: schedule.cron: ")
    assert repr(cron) in message and "\n" not in message


@pytest.mark.parametrize(
    "cron",
    [
        "0 3 * * 1",
        "*/5 * * * *",
        "0 0 1 1 *",
        "0 9-17 * * mon-fri",
        "0 3 * * 1 2 3 4",
        "61 3 * * 1",
        "H 3 * * 1",
        "0 3 * *",
        "@weekly",
        "0 0 31 2 *",
    ],
)
def test_the_cron_check_agrees_with_prefect(cron: str) -> None:
    def accepted(check) -> bool:
        try:
            check()
        except ValueError:
            return False
        return True

    assert accepted(lambda: ScheduleSettings(cron=cron)) == accepted(lambda: CronSchedule(cron=cron)), cron


def test_every_problem_is_reported_at_once_one_line_each(tmp_path: Path) -> None:
    edited = (
        PARAMS.replace("  epochs: 100", "  epochs: true", 1)
        .replace("gamma: 0.7", "gamma: 7", 1)
        .replace('cron: "0 3 * * 1"', 'cron: "x"')
    )
    path = tmp_path / "params.yaml"
    path.write_text(edited)
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path)
    lines = str(excinfo.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "train_classifier.epochs",
        "synthesize_pairs.gamma",
        "schedule.cron",
    ]


def test_a_key_cannot_forge_a_second_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS.replace("  epochs: 100", '  "epochs\\n[ERROR] forged\\u001b[31m\\u0000": 100', 1))
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path)
    [line] = str(excinfo.value).splitlines()
    assert "\\n[ERROR] forged\\x1b[31m\\x00" in line and "\x00" not in line and "\x1b" not in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gamma: [0.7\n", "params.yaml:2: not valid YAML: expected ',' or ']', but got '<stream end>'"),
        ("- a\n- b\n", "params.yaml: must be a mapping of keys to values, got list"),
    ],
)
def test_a_file_that_is_not_a_params_mapping_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=None) as excinfo:
        load_settings(path)
    assert str(excinfo.value) == f"{tmp_path}/{expected}"


def test_a_missing_params_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(tmp_path / "nope.yaml")
    assert str(excinfo.value) == f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"


@pytest.mark.parametrize(
    ("given", "costly", "expected"),
    [
        ({}, False, 1.0),
        ({}, True, 5.0),
        ({"coalesce_ms": 8}, True, 8.0),
        ({"coalesce_max_ms": 3}, False, 3.0),
        ({"coalesce_max_ms": 0.5}, True, 1.0),
    ],
)
def test_a_group_waits_longer_only_for_a_model_whose_calls_cost_more_than_their_rows(
    given: dict, costly: bool, expected: float
) -> None:
    """``coalesce_max_ms: auto`` is the plain window for the MLP and 5 ms for a lender's model; a
    number is used as given for either, never shorter than the window itself."""
    assert ServeSettings(**given).coalesce_wait_ms(costly) == expected


def test_params_yaml_states_the_settings_defaults_and_nothing_else() -> None:
    """Each default lives in the settings; params.yaml writes them out for DVC to track and a user
    to edit, so every value there is the default (but the embedded dataset's paths, which have
    none), and the two cannot drift apart."""
    import yaml
    from pydantic import BaseModel

    from genre.settings import Settings

    def differences(model: type[BaseModel], values: dict, prefix: str) -> list[str]:
        found = []
        for key, value in values.items():
            field = model.model_fields[key]
            nested = (
                field.annotation
                if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
                else None
            )
            if nested is not None:
                found += differences(nested, value, f"{prefix}{key}.")
                continue
            default = field.get_default(call_default_factory=True)
            if str(default) != str(value) and default != value:
                found.append(f"{prefix}{key}: settings {default!r}, params.yaml {value!r}")
        return found

    paths = {f"ingest.{key}" for key in ("train_csv", "test_csv", "schema_path")}
    assert [d for d in differences(Settings, yaml.safe_load(PARAMS), "") if d.split(":")[0] not in paths] == []
