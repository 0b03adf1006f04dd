"""One typed settings object, loaded from ``params.yaml``.

DVC tracks ``params.yaml`` section by section, so every stage reads only its own section (plus the
shared ``recourse`` section where it samples recourse). The file is read strictly, because a
loosely read value trains a model nobody asked for: unknown keys, a key written twice, a boolean or
a quoted number where a number belongs, and a cron Prefect would refuse are all errors, reported
together as one line each with the line of ``params.yaml`` they are on, before any stage runs
(``genre.strict_yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)

from genre.messages import InputError
from genre.strict_yaml import StrictYaml


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(_Section):
    train_csv: Path
    test_csv: Path | None = None
    schema_path: Path
    test_fraction: float = Field(0.25, gt=0, lt=1)
    sample_rows: PositiveInt | None = None  # caps the rows taken from train_csv and test_csv, not the batches
    seed: int = 0
    # Labelled batches that passed retraining's intake (genre.retraining.intake): each file joins
    # the training split, in name order. Under data/raw, so ingest's DVC dependency covers them.
    batches: Path = Path("data/raw/accepted")


class ClassifierSettings(_Section):
    hidden: list[PositiveInt] = [10, 10, 10]
    epochs: PositiveInt = 100
    lr: float = Field(1e-3, gt=0)
    batch_size: PositiveInt | Literal["auto"] = "auto"  # genre.models.classifiers.batch_and_lr
    threads: PositiveInt = 1  # torch threads while training: the 10-wide MLP only thrashes on more
    class_balanced: bool = True
    rf_n_estimators: PositiveInt = 100
    rf_cv_folds: int = Field(5, ge=2)
    rf_random_state: int = 42
    rf_max_rows: PositiveInt = 100_000  # the forest fits a seeded sample past this (genre.models.ground_truth)
    seed: int = 0
    # The lender's own model instead of the MLP: a skops file in models/ whose predict_proba takes
    # the raw feature columns (genre.models.own_model). null: train the protocol's MLP.
    model: Path | None = None
    trusted_types: list[str] = []  # types of that file skops does not trust by default, vouched for by the user


class ApproximateSettings(_Section):
    """``synthesize_pairs.mode: approximate``: an inverted-file index per immutable group
    (genre.recourse.neighbours); the recall it costs is measured on every run."""

    # inverted lists per group's index; auto: targets x probe / (2 x asked), so the probed lists hold
    # about twice what a source asks for and a search reads about as many targets however many there are
    lists: PositiveInt | Literal["auto"] = "auto"
    probe: PositiveInt = 16  # lists each source searches
    oversample: float = Field(2.0, ge=1)  # nearest targets asked per source, x k, before the inadmissible are dropped
    recall_sources: PositiveInt = 500  # sources also searched exactly, for the recall reported in the metrics
    seed: int = 0  # which sources those are


class PairSettings(_Section):
    gamma: float = Field(0.7, gt=0, lt=1)
    lam: float = Field(2.0, gt=0)
    k: PositiveInt = 1000
    chunk_size: PositiveInt = 2048
    mode: Literal["exact", "approximate"] = (
        "exact"  # approximate: for partitions too large to compare every source with every target
    )
    approximate: ApproximateSettings = ApproximateSettings()


class CVAESettings(_Section):
    latent_dim: PositiveInt = 8
    hidden: list[PositiveInt] = [64, 64]
    epochs: PositiveInt = 300  # an upper bound: early stopping (patience) ends it
    batch_size: PositiveInt = 256
    lr: float = Field(1e-3, gt=0)
    beta: float = Field(1.0, gt=0)
    patience: PositiveInt = 15
    val_fraction: float = Field(0.1, gt=0, lt=1)
    min_steps_per_epoch: PositiveInt = 50  # genre.models.training.fit_pairs: small data gets several passes per epoch
    max_steps_per_epoch: PositiveInt = (
        1000  # ... and large data a seeded sample of sources per epoch (1M rows: 40% of them)
    )
    min_val_pairs: PositiveInt = 1000  # ... and several fixed partners per held-out source
    seed: int = 0


class TransformerSettings(_Section):
    """The authors' kind of generator: an autoregressive encoder-decoder over binned features."""

    bins: int = Field(50, ge=2)
    width: PositiveInt = 32
    heads: PositiveInt = 8
    encoder_layers: PositiveInt = 2
    decoder_layers: PositiveInt = 2
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 256
    lr: float = Field(1e-3, gt=0)
    patience: PositiveInt = 15
    val_fraction: float = Field(0.1, gt=0, lt=1)
    sharpen: float = Field(5.0, gt=0)  # the engine's temperature divides it: 5 / 0.5 = the authors' logits x 10
    min_steps_per_epoch: PositiveInt = 50
    max_steps_per_epoch: PositiveInt = 1000
    min_val_pairs: PositiveInt = 1000
    seed: int = 0


GeneratorKind = Literal["cvae", "transformer"]


class GeneratorSettings(_Section):
    """Which generator the pipeline trains, evaluates and serves, and each kind's own settings."""

    kind: GeneratorKind = "cvae"
    threads: PositiveInt = (
        1  # torch threads while training: a 64-wide CVAE gains nothing from more, and thrashes on a busy machine
    )
    cvae: CVAESettings = CVAESettings()
    transformer: TransformerSettings = TransformerSettings()


Rule = Literal[
    "cheapest", "balanced", "most_confident"
]  # which accepted candidate is the answer (genre.recourse.engine)


class RecourseSettings(_Section):
    n_candidates: PositiveInt = 300
    temperature: float = Field(0.5, gt=0)
    # auto: the paper's 0.9, or lower where denied training rows cannot reach it plus the margin
    # (genre.recourse.threshold: threshold + margin at most what 90% of them can reach)
    threshold: Annotated[float, Field(ge=0, lt=1)] | Literal["auto"] = "auto"
    # a recourse is issued only where P_h(x+) exceeds threshold + margin: headroom so that the next,
    # retrained model still accepts it (the gate's promises kept, and its table by margin)
    margin: float = Field(0.02, ge=0, lt=1)
    retrieved: NonNegativeInt = (
        10  # nearest accepted training rows added to the candidates (genre.recourse.retrieval); 0: sampled only
    )
    retrieval: Literal["fallback", "compete"] = (
        "fallback"  # retrieved rows answer only where no sampled one is accepted (and plausible), or compete with them
    )
    # whether plausible accepted candidates (local outlier factor among the training rows the
    # classifier approves below max_outlier_factor) are chosen before the others
    # (genre.recourse.plausibility); auto: where it scores higher on the denied training applicants
    # selection: auto is chosen on, chosen by evaluate and packaged with the model as the rule is
    plausible_first: bool | Literal["auto"] = "auto"
    max_outlier_factor: float = Field(1.4, gt=0)
    # balanced: the highest probability - cost / d, the protocol's score with h for validity. auto:
    # the rule with the best score on denied training applicants where it beats cheapest by two
    # standard errors, else cheapest, chosen by evaluate
    # (data/evaluation/selection.json) and packaged with the model; metrics/evaluate.json's
    # selection_rules gives every rule's figures on the test factuals
    selection: Rule | Literal["auto"] = "auto"
    # bfloat16 runs the generator's sampling in bfloat16 (it paid off for a 128-wide decoder on
    # CPUs with AVX512-BF16, not for the 64-wide default); candidates are scored at full precision.
    precision: Literal["float32", "bfloat16"] = "float32"
    # minimal answers: once chosen, every change the decision does not need is undone (the one
    # whose undoing keeps the probability highest first) while the answer clears threshold +
    # margin and stays plausible (genre.recourse.minimal)
    sparsify: bool = True


class EvaluateSettings(_Section):
    n_factuals: PositiveInt = 200
    seed: int = 0
    lof_neighbors: PositiveInt = 5
    plausibility_rows: PositiveInt = (
        200_000  # LOF is fitted on at most this many favourable rows (a seeded sample past it)
    )
    consistency_sources: PositiveInt = 100
    consistency_samples: PositiveInt = 50
    selection_applicants: PositiveInt = (
        200  # denied training rows (a seeded sample) that recourse.selection: auto is chosen on
    )
    sweep_candidates: list[PositiveInt] = [1, 10, 30, 100, 300]
    sweep_temperatures: list[float] = [0.3, 0.5, 0.7, 1.0]
    min_found_rate: float = Field(0.5, ge=0, le=1)  # below it evaluation fails, and nothing is packaged
    min_group_factuals: PositiveInt = (
        10  # a group of an immutable feature with fewer factuals is shown, not counted in its gap
    )
    # threshold auto never puts the bar where fewer training rows than this clear it (auto: 1% of
    # the rows the classifier approves, at least 30), so no single row is everyone's answer
    min_rows_above_bar: PositiveInt | Literal["auto"] = "auto"
    # evaluation fails, and nothing is packaged, where one same answer is given to more than this
    # share of the applicants found one
    max_answer_share: float = Field(0.1, gt=0, le=1)


class WachterSettings(_Section):
    """Wachter search."""

    steps: PositiveInt = 100  # proximal-gradient iterations per lambda
    rounds: PositiveInt = 12  # lambda increases before giving up on a factual
    lr: float = Field(0.05, gt=0)  # step size on the squared term (capped per row)
    lambda_init: float = Field(0.1, gt=0)
    lambda_growth: float = Field(2.0, gt=1)
    target: float = Field(0.95, gt=0, lt=1)  # probability the loss pulls h(x') towards
    threshold: float = Field(0.9, ge=0, lt=1)  # accepted only if h(x') > threshold after projection

    @model_validator(mode="after")
    def _target_clears_threshold(self) -> WachterSettings:
        if self.target <= self.threshold:
            raise ValueError("'target' must exceed 'threshold', or the search stops short of it")
        return self


class DiceSettings(_Section):
    """DiCE baseline."""

    method: Literal["random", "genetic"] = "genetic"
    total_cfs: PositiveInt = 4  # counterfactuals asked per factual; the cheapest accepted one is kept
    threshold: float = Field(0.9, gt=0, lt=1)  # h(x+) must exceed this (DiCE sees it as its 0.5)
    sample_size: PositiveInt = 1000  # random method: candidates drawn per round
    max_iterations: PositiveInt = 500  # genetic method: generations at most
    # DiCE's default linear post-hoc search steps continuous features one unit at a time (one model
    # call per unit, up to 10,000 per feature): unusable on wide integer features such as fnlwgt.
    posthoc_sparsity: Literal["binary", "linear"] = "binary"
    # dice-ml's genetic start loops until it has drawn enough valid random points, which for some
    # factuals never happens (interpretml/DiCE#226): a query past this budget counts as not found.
    query_seconds: float = Field(20.0, gt=0)
    seed: int = 0


COSTLY_CALL_WAIT_MS = 5.0  # serve.coalesce_max_ms: auto, for a lender's own model


class ServeSettings(_Section):
    """Limits that protect the service; they travel inside the bento with the model."""

    max_batch: PositiveInt = 1000
    max_alternatives: PositiveInt = 5
    max_body_bytes: PositiveInt = 4_000_000
    answer_log: str | None = (
        None  # a folder: each answer issued, one JSON line (genre.serving.answer_log); personal data
    )
    answer_log_days: PositiveInt = 30  # ... deleted after this many days
    coalesce_ms: float = Field(
        1.0, ge=0, le=100
    )  # single requests arriving this close share one model call (0: each alone)
    # ... and while they keep arriving, a group waits for more at most this long after its first
    # (auto: coalesce_ms for a model whose calls cost their rows, the MLP; COSTLY_CALL_WAIT_MS for
    # a lender's own model, whose every call costs about that much: genre.serving.coalesce)
    coalesce_max_ms: Annotated[float, Field(ge=0, le=100)] | Literal["auto"] = "auto"

    def coalesce_wait_ms(self, costly_calls: bool) -> float:
        """``coalesce_max_ms`` resolved for a model whose calls cost more than their rows, or not."""
        if self.coalesce_max_ms != "auto":
            return max(float(self.coalesce_max_ms), self.coalesce_ms)
        return max(COSTLY_CALL_WAIT_MS, self.coalesce_ms) if costly_calls else self.coalesce_ms


class PackageSettings(_Section):
    model_name: str = "genre-recourse"
    bento_name: str = "genre-recourse-service"


class ScheduleSettings(_Section):
    cron: str = "0 3 * * 1"
    deployment_name: str = "genre-retrain"

    @field_validator("cron")
    @classmethod
    def _prefect_accepts(cls, cron: str) -> str:
        """The rule Prefect's CronSchedule applies (croniter's, without random or hashed fields),
        checked here so a bad cron fails at load, not hours later when the schedule is served."""
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise ValueError(f"{cron!r} is not a valid cron expression (minute hour day-of-month month day-of-week)")
        if any(field.casefold() in ("r", "h") for field in cron.split()):
            raise ValueError(f"{cron!r}: random (R) and hashed (H) cron fields are not supported by Prefect")
        return cron


class DriftSettings(_Section):
    """When a batch of new applicants counts as drifted from the training data (genre.retraining.drift)."""

    alpha: float = Field(0.01, gt=0, lt=1)  # Benjamini-Hochberg level over the features' two-sample tests ...
    max_psi: float = Field(0.2, gt=0)  # ... and the population stability index a feature must also reach
    max_label_shift: float = Field(0.1, gt=0, le=1)  # the favourable-label rate may move this much (absolute)
    max_approval_shift: float = Field(0.1, gt=0, le=1)  # and the classifier's approval rate on the batch


class GateSettings(_Section):
    """When a challenger may replace the production model (genre.retraining.gate)."""

    applicants: PositiveInt = 200  # the gate set: held-out applicants the champion denies, a fixed random subset
    seed: int = 0
    score_tolerance: float = Field(0.02, ge=0)  # the challenger's score may be this much below the champion's
    min_promises_kept: float = Field(
        0.95, ge=0, le=1
    )  # share of the champion's recourses the challenger must still accept
    group_gap_tolerance: float = Field(0.05, ge=0)  # how much wider a group gap may grow
    promise_days: PositiveInt = 30  # issued recourses (the answer log) this recent are promises to keep
    margins: list[Annotated[float, Field(ge=0, lt=1)]] = [
        0.0,
        0.02,
        0.05,
    ]  # the champion re-answers the gate set at each recourse.margin: promises kept by margin


class RetrainSettings(_Section):
    """Where unattended retraining (flows.retrain) takes new batches from and puts the ones it
    refuses; accepted ones move to ``ingest.batches``. Files are moved whole, never edited."""

    incoming: Path = Path("data/incoming")  # new labelled CSVs, the training data's columns: taken in name order
    quarantine: Path = Path("data/quarantine")  # batches that failed validation, each beside its report
    held: Path = Path(
        "data/held"
    )  # batches that drifted, each beside its drift report and pictures, for a person to look at


class RunnerSettings(_Section):
    """Where the per-chunk work runs (genre.parallel): pair synthesis per immutable group, the
    evaluation's recourse sampling and the batch CLI per block of applicants. The figures do not
    depend on it: every piece is computed as it would be in one piece."""

    kind: Literal["inprocess", "dask"] = "inprocess"
    address: str | None = None  # dask: an existing cluster's scheduler (tcp://host:8786); null starts a local cluster
    workers: PositiveInt = (
        2  # a local cluster's worker processes; each immutable group's sources are split in at least this many parts
    )
    threads_per_worker: PositiveInt = 1
    chunk_rows: PositiveInt = 10_000  # applicants per piece: pair sources, evaluation's recourse sampling, the batch CLI (read and written a chunk at a time)

    @property
    def parts(self) -> int:
        """Pieces each immutable group's sources are split into at least: one here, one per worker on Dask
        (pair synthesis also caps a piece at chunk_rows sources)."""
        return 1 if self.kind == "inprocess" else self.workers

    @property
    def in_flight(self) -> int:
        """Pieces submitted and not yet collected: enough to keep every worker busy, few enough
        that a stream of chunks is never all in memory."""
        return 2 if self.kind == "inprocess" else 2 * self.workers * self.threads_per_worker


class Settings(_Section):
    """Everything the pipeline reads; ``root`` anchors every relative path so tests can relocate it."""

    root: Path = Path(".")
    ingest: IngestSettings
    train_classifier: ClassifierSettings = ClassifierSettings()
    synthesize_pairs: PairSettings = PairSettings()
    train_generator: GeneratorSettings = GeneratorSettings()
    recourse: RecourseSettings = RecourseSettings()
    evaluate: EvaluateSettings = EvaluateSettings()
    wachter: WachterSettings = WachterSettings()
    dice: DiceSettings = DiceSettings()
    serve: ServeSettings = ServeSettings()
    package: PackageSettings = PackageSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    drift: DriftSettings = DriftSettings()
    gate: GateSettings = GateSettings()
    retrain: RetrainSettings = RetrainSettings()
    runner: RunnerSettings = RunnerSettings()

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path


class SettingsError(InputError):
    """``params.yaml`` cannot be used; ``str()`` is one line per problem, each naming where it is."""


def merge_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Lay params overrides over raw params in place; a nested section (``train_generator.cvae``)
    is updated key by key, not replaced, so an override names only what it changes."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            merge_overrides(params[key], value)
        else:
            params[key] = value


def load_settings(params_path: Path | str = "params.yaml", **overrides: object) -> Settings:
    """Read ``params.yaml`` strictly (see the module's docstring); the project root is the folder
    that holds it. Raises ``SettingsError`` listing every problem."""
    params_path = Path(params_path)
    params = StrictYaml(params_path, SettingsError)
    raw = params.mapping()
    raw.setdefault("root", params_path.parent)
    raw.update(overrides)
    return params.validate(Settings, raw)
