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
    # Every field states its default and a description: docs/configuration.md is generated from them
    # (genre.config_reference), so the settings are the one place a default or its meaning is written.
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(_Section):
    """Where the labelled data and its schema are, and how the test split is made."""

    train_csv: Path = Field(description="The labelled training CSV (or .csv.gz), the schema's columns.")
    test_csv: Path | None = Field(
        None, description="The labelled test CSV; null: the test split is a seeded share of train_csv."
    )
    schema_path: Path = Field(description="The dataset's schema: each column's kind, and what a recourse may change.")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="The share of train_csv held out when test_csv is null.")
    sample_rows: PositiveInt | None = Field(
        None, description="Caps the rows taken from train_csv and test_csv (quick experiments); batches are not capped."
    )
    seed: int = Field(0, description="Seeds the split and the sample.")
    batches: Path = Field(
        Path("data/raw/accepted"),
        description=(
            "Labelled batches that passed retraining's intake: each file joins the training split, in name order. "
            "Under data/raw, so ingest's DVC dependency covers them."
        ),
    )


class ClassifierSettings(_Section):
    """The classifier whose denials recourse answers (the protocol's MLP, or the lender's own model), and
    the random forest that stands in for the world when answers are judged."""

    hidden: list[PositiveInt] = Field([10, 10, 10], description="The MLP's hidden layer widths.")
    epochs: PositiveInt = Field(100, description="The MLP's training epochs.")
    lr: float = Field(1e-3, gt=0, description="The MLP's learning rate (at a batch of 64).")
    batch_size: PositiveInt | Literal["auto"] = Field(
        "auto",
        description=(
            "The MLP's batch; auto: 64 on small data, up to 256 on large, the learning rate scaled by "
            "sqrt(batch / 64) (genre.models.classifiers.batch_and_lr)."
        ),
    )
    threads: PositiveInt = Field(1, description="torch threads while training: a tiny MLP only thrashes on more.")
    class_balanced: bool = Field(True, description="Weight the classes equally in the MLP's loss.")
    rf_n_estimators: PositiveInt = Field(100, description="Trees in the ground-truth forest that judges validity.")
    rf_cv_folds: int = Field(5, ge=2, description="Folds of the forest's cross-validated accuracy, in the metrics.")
    rf_random_state: int = Field(42, description="Seeds the forest.")
    rf_max_rows: PositiveInt = Field(
        100_000,
        description=(
            "The forest fits a seeded sample of the training rows past this many: its trees grow with the rows."
        ),
    )
    seed: int = Field(0, description="Seeds the MLP's initial weights and batches.")
    model: Path | None = Field(
        None,
        description=(
            "The lender's own model instead of the MLP: a skops file in models/ whose predict_proba takes the raw "
            "feature columns (docs/own-model.md). null: train the protocol's MLP."
        ),
    )
    trusted_types: list[str] = Field(
        [], description="Types in that file skops does not trust by default, once you have vouched for them."
    )


class ApproximateSettings(_Section):
    """``synthesize_pairs.mode: approximate``: an inverted-file index per immutable group
    (genre.recourse.neighbours); the recall it costs is measured on every run."""

    lists: PositiveInt | Literal["auto"] = Field(
        "auto",
        description=(
            "Inverted lists in each group's index; auto: targets x probe / (2 x oversample x k), so the probed lists "
            "hold about twice what a source asks for and a search reads about as many targets however many there are."
        ),
    )
    probe: PositiveInt = Field(16, description="Lists each source searches.")
    oversample: float = Field(
        2.0, ge=1, description="Nearest targets asked per source, times k, before the inadmissible are dropped."
    )
    recall_sources: PositiveInt = Field(
        500, description="Sources also searched exactly, for the recall reported in metrics/synthesize_pairs.json."
    )
    seed: int = Field(0, description="Which sources those are.")


class PairSettings(_Section):
    """The supervision pairs the generator learns from: each denied training row (a source) paired with
    approved rows (targets) of its immutable group, weighted by Q(x+|x-) ~ exp(-lam x cost)."""

    gamma: float = Field(
        0.7,
        gt=0,
        lt=1,
        description="Sources: the classifier's P(y+|x) <= gamma; targets: P(y+|x) > gamma and labelled favourable.",
    )
    lam: float = Field(
        2.0, gt=0, description="How sharply Q prefers cheap targets: Q(x+|x-) ~ exp(-lam x cost(x-, x+))."
    )
    k: PositiveInt = Field(1000, description="Nearest admissible targets kept per source.")
    chunk_size: PositiveInt = Field(2048, description="Sources compared with the targets at a time (memory).")
    mode: Literal["exact", "approximate"] = Field(
        "exact",
        description=(
            "exact: every source against every target of its immutable group; approximate: an inverted-file "
            "index (faiss) per group, for partitions too large to compare every pair."
        ),
    )
    approximate: ApproximateSettings = Field(ApproximateSettings(), description="The approximate mode's settings.")


class CVAESettings(_Section):
    """The default generator: a conditional VAE, R(x+ | x-)."""

    latent_dim: PositiveInt = Field(8, description="Width of the latent noise.")
    hidden: list[PositiveInt] = Field([64, 64], description="Encoder and decoder hidden layer widths.")
    epochs: PositiveInt = Field(300, description="An upper bound: early stopping (patience) ends training.")
    batch_size: PositiveInt = Field(256, description="Pairs per training step.")
    lr: float = Field(1e-3, gt=0, description="Adam's learning rate.")
    beta: float = Field(1.0, gt=0, description="Weight of the KL term in the loss.")
    patience: PositiveInt = Field(15, description="Epochs without a better validation loss before training stops.")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="Share of the sources held out for validation.")
    min_steps_per_epoch: PositiveInt = Field(
        50, description="An epoch is at least this many steps: several passes on small data."
    )
    max_steps_per_epoch: PositiveInt = Field(
        1000, description="... and at most this many: on large data an epoch is a fresh seeded sample of the sources."
    )
    min_val_pairs: PositiveInt = Field(
        1000, description="Held-out sources get fixed partners up to this many validation pairs."
    )
    seed: int = Field(0, description="Seeds the weights, the split and the batches.")


class TransformerSettings(_Section):
    """The authors' kind of generator: an autoregressive encoder-decoder over binned features."""

    bins: int = Field(50, ge=2, description="Bins per numeric feature.")
    width: PositiveInt = Field(32, description="Model width.")
    heads: PositiveInt = Field(8, description="Attention heads.")
    encoder_layers: PositiveInt = Field(2, description="Encoder layers.")
    decoder_layers: PositiveInt = Field(2, description="Decoder layers.")
    epochs: PositiveInt = Field(30, description="An upper bound: early stopping (patience) ends training.")
    batch_size: PositiveInt = Field(256, description="Pairs per training step.")
    lr: float = Field(1e-3, gt=0, description="Adam's learning rate.")
    patience: PositiveInt = Field(15, description="Epochs without a better validation loss before training stops.")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="Share of the sources held out for validation.")
    sharpen: float = Field(
        5.0,
        gt=0,
        description=(
            "Multiplies the logits when sampling; recourse.temperature divides it (5 / 0.5 = the authors' x10)."
        ),
    )
    min_steps_per_epoch: PositiveInt = Field(50, description="As for the CVAE.")
    max_steps_per_epoch: PositiveInt = Field(1000, description="As for the CVAE.")
    min_val_pairs: PositiveInt = Field(1000, description="As for the CVAE.")
    seed: int = Field(0, description="Seeds the weights, the split and the batches.")


GeneratorKind = Literal["cvae", "transformer"]


class GeneratorSettings(_Section):
    """Which generator the pipeline trains, evaluates and serves, and each kind's own settings."""

    kind: GeneratorKind = Field("cvae", description="cvae, or transformer (the authors' kind).")
    threads: PositiveInt = Field(
        1,
        description=(
            "torch threads while training: a small generator gains nothing from more, and thrashes on a busy machine."
        ),
    )
    cvae: CVAESettings = Field(CVAESettings(), description="The CVAE's settings.")
    transformer: TransformerSettings = Field(TransformerSettings(), description="The Transformer's settings.")


Rule = Literal[
    "cheapest", "balanced", "most_confident"
]  # which accepted candidate is the answer (genre.recourse.engine)


class RecourseSettings(_Section):
    """How an answer is sampled and chosen: shared by evaluate, package, the CLI and the service."""

    n_candidates: PositiveInt = Field(300, description="Candidates sampled from the generator per applicant.")
    temperature: float = Field(
        0.5,
        gt=0,
        description=(
            "CVAE: the scale of the latent noise (the decoder's mean is used); Transformer: divides its logits."
        ),
    )
    threshold: Annotated[float, Field(ge=0, lt=1)] | Literal["auto"] = Field(
        "auto",
        description=(
            "A candidate is accepted only where the classifier's P(y+|x+) exceeds this plus the margin. auto: the "
            "paper's 0.9, or lower where denied training rows cannot reach it (genre.recourse.threshold), never "
            "where fewer than evaluate.min_rows_above_bar approved rows clear it; evaluate chooses, package carries it."
        ),
    )
    margin: float = Field(
        0.02,
        ge=0,
        lt=1,
        description=(
            "Headroom above the threshold, so the next, retrained model still accepts what was issued "
            "(the gate's promises kept, and its table by margin)."
        ),
    )
    retrieved: NonNegativeInt = Field(
        10,
        description=(
            "The nearest accepted training rows added to the candidates (genre.recourse.retrieval), so GenRe finds "
            "one wherever nearest-neighbour recourse does; 0: sampled only."
        ),
    )
    reachable: NonNegativeInt = Field(
        100,
        description=(
            "Accepted training rows moved within the applicant's reach (immutable values kept, moves capped) added "
            "after the retrieved ones, those moved least first (genre.recourse.retrieval); 0: none."
        ),
    )
    retrieval: Literal["fallback", "compete"] = Field(
        "fallback",
        description=(
            "fallback: retrieved and reachable rows answer only where no sampled candidate is accepted (and "
            "plausible); compete: they are chosen by the same rule as sampled ones."
        ),
    )
    plausible_first: bool | Literal["auto"] = Field(
        "auto",
        description=(
            "Choose plausible accepted candidates (see max_outlier_factor) before the others; auto: where that "
            "scores higher on the denied training applicants (evaluate chooses, package carries it)."
        ),
    )
    max_outlier_factor: float = Field(
        1.3,
        gt=0,
        description=(
            "Plausible: a local outlier factor below this among the training rows labelled favourable "
            "(the protocol's 1.5, less a margin; genre.recourse.plausibility)."
        ),
    )
    preferred_outlier_factor: Annotated[float, Field(gt=0)] | None = Field(
        1.2,
        description=(
            "Where plausible candidates come first and an answer is not plausible at this stricter factor: the "
            "answer the same candidates give judged at it replaces it where that one is and asks for no more "
            "changes; null: never."
        ),
    )
    selection: Rule | Literal["auto"] = Field(
        "auto",
        description=(
            "Which accepted candidate is the answer: cheapest; balanced (the highest probability - cost / d, the "
            "protocol's score with the classifier for validity); most_confident; auto: the best-scoring on denied "
            "training applicants if two standard errors ahead of cheapest, else cheapest (evaluate chooses, "
            "package carries it)."
        ),
    )
    precision: Literal["float32", "bfloat16"] = Field(
        "float32",
        description=(
            "The generator's sampling precision; bfloat16 pays off only for wide decoders on CPUs with "
            "AVX512-BF16. Candidates are scored at full precision either way."
        ),
    )
    sparsify: bool = Field(
        True,
        description=(
            "Minimal answers: once chosen, every change the decision does not need is undone (the one whose undoing "
            "keeps the probability highest first) while the answer clears threshold + margin and stays plausible."
        ),
    )


class EvaluateSettings(_Section):
    """The protocol's evaluation on the test applicants, and the checks that stop a model being packaged."""

    n_factuals: PositiveInt = Field(200, description="Denied test applicants evaluated (a seeded sample).")
    seed: int = Field(0, description="Seeds that sample and the sampling.")
    lof_neighbors: PositiveInt = Field(5, description="Neighbours of the protocol's LOF plausibility judge.")
    plausibility_rows: PositiveInt = Field(
        200_000,
        description="The LOF judge is fitted on at most this many favourable rows (a seeded sample past it).",
    )
    consistency_sources: PositiveInt = Field(100, description="Sources of the generator's consistency check.")
    consistency_samples: PositiveInt = Field(50, description="Samples drawn per consistency source.")
    selection_applicants: PositiveInt = Field(
        200,
        description=(
            "Denied training rows (a seeded sample) that the auto choices (threshold, selection, plausible_first) "
            "are made on; the test applicants play no part."
        ),
    )
    sweep_candidates: list[PositiveInt] = Field(
        [1, 10, 30, 100, 300], description="Candidate counts of the quality-for-time sweep (plots/)."
    )
    sweep_temperatures: list[float] = Field([0.3, 0.5, 0.7, 1.0], description="Temperatures of that sweep.")
    min_found_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "GenRe must find a recourse for at least this share of the denied test applicants, or nothing is packaged."
        ),
    )
    min_group_factuals: PositiveInt = Field(
        10,
        description="Group gaps (per immutable category) count only groups with at least this many applicants.",
    )
    min_rows_above_bar: PositiveInt | Literal["auto"] = Field(
        "auto",
        description=(
            "threshold: auto never puts the bar where fewer approved training rows than this clear it, so no single "
            "row is everyone's answer (auto: 1% of the rows the classifier approves, at least 30)."
        ),
    )
    max_answer_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description=(
            "Evaluation fails, and nothing is packaged, where one same answer goes to more than this share of the "
            "applicants."
        ),
    )


class WachterSettings(_Section):
    """Wachter's gradient search on the classifier: a baseline, for benchmarks only."""

    steps: PositiveInt = Field(100, description="Proximal-gradient iterations per lambda.")
    rounds: PositiveInt = Field(12, description="Lambda increases before giving up on an applicant.")
    lr: float = Field(0.05, gt=0, description="Step size on the squared term (capped per row).")
    lambda_init: float = Field(0.1, gt=0, description="The first lambda.")
    lambda_growth: float = Field(2.0, gt=1, description="Lambda's factor per round.")
    target: float = Field(0.95, gt=0, lt=1, description="The probability the loss pulls h(x') towards.")
    threshold: float = Field(0.9, ge=0, lt=1, description="Accepted only if h(x') exceeds this after projection.")

    @model_validator(mode="after")
    def _target_clears_threshold(self) -> WachterSettings:
        if self.target <= self.threshold:
            raise ValueError("'target' must exceed 'threshold', or the search stops short of it")
        return self


class DiceSettings(_Section):
    """The DiCE baseline (dice-ml), for benchmarks only."""

    method: Literal["random", "genetic"] = Field("genetic", description="dice-ml's search method.")
    total_cfs: PositiveInt = Field(
        4, description="Counterfactuals asked per applicant; the cheapest accepted one is kept."
    )
    threshold: float = Field(0.9, gt=0, lt=1, description="h(x+) must exceed this (DiCE sees it as its 0.5).")
    sample_size: PositiveInt = Field(1000, description="random method: candidates drawn per round.")
    max_iterations: PositiveInt = Field(500, description="genetic method: generations at most.")
    posthoc_sparsity: Literal["binary", "linear"] = Field(
        "binary",
        description=(
            "DiCE's post-hoc sparsity search; its default, linear, steps continuous features one unit at a time "
            "(a model call per unit), unusable on wide integer features."
        ),
    )
    query_seconds: float = Field(
        20.0,
        gt=0,
        description=(
            "A query past this budget counts as not found: dice-ml's genetic start can loop for ever on some "
            "applicants (interpretml/DiCE#226)."
        ),
    )
    seed: int = Field(0, description="Seeds DiCE.")


COSTLY_CALL_WAIT_MS = 5.0  # serve.coalesce_max_ms: auto, for a lender's own model


class ServeSettings(_Section):
    """Limits that protect the service; they travel inside the bento with the model."""

    max_batch: PositiveInt = Field(1000, description="Applicants per batch request.")
    max_alternatives: PositiveInt = Field(5, description="Recourse options one applicant may ask for.")
    max_body_bytes: PositiveInt = Field(4_000_000, description="Larger request bodies get HTTP 413.")
    answer_log: str | None = Field(
        "logs/answers",
        description=(
            "A folder: every answer issued, one JSON line each (genre.serving.answer_log), which the retraining gate "
            "holds the challenger to; relative to the project under genre production serve. Personal data: see "
            "docs/serving.md. null: no log."
        ),
    )
    answer_log_days: PositiveInt = Field(
        760,
        description=(
            "Each day's answer-log file is deleted after this many days (760: the 25 months US Regulation B asks a "
            "lender to keep what it told an applicant)."
        ),
    )
    probability_decimals: int | None = Field(
        2,
        ge=0,
        le=6,
        description=(
            "Probabilities in answers are rounded to this many decimals: enough for a person, too few to copy the "
            "classifier's boundary from. null: as computed."
        ),
    )
    api_keys: str | None = Field(
        "keys/api-keys.json",
        description=(
            "The file of API keys (stored hashed; genre keys add|revoke) that genre production serve requires callers "
            "to present, relative to the project; re-read when it changes. null: no keys (anyone who can reach the "
            "port is answered)."
        ),
    )
    key_per_minute: PositiveInt | None = Field(
        1200,
        description=(
            "A new key's rate: applicants answered per minute (a batch counts each; at least max_batch, or a full "
            "batch is never answered); over it, HTTP 429 with Retry-After. null: no limit."
        ),
    )
    key_per_day: PositiveInt | None = Field(
        100_000, description="A new key's daily quota of applicants answered; over it, HTTP 429. null: no quota."
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description=(
            "A connection that has sent no whole request (line and headers) this long after it was made, or after "
            "its last answer, is closed (genre.serving.slow_clients). Read when a worker starts."
        ),
    )
    follow_seconds: float = Field(
        10.0,
        gt=0,
        le=60,
        description="How often a service started by genre production serve looks whether production has moved.",
    )
    coalesce_ms: float = Field(
        1.0,
        ge=0,
        le=100,
        description=(
            "Single /recourse requests with the same options arriving this close share one model call (0: each alone)."
        ),
    )
    coalesce_max_ms: Annotated[float, Field(ge=0, le=100)] | Literal["auto"] = Field(
        "auto",
        description=(
            "... and while they keep arriving, a group waits for more at most this long after its first "
            f"(auto: coalesce_ms for the MLP, {COSTLY_CALL_WAIT_MS:g} for a lender's own model, whose every call "
            "costs about that much: genre.serving.coalesce)."
        ),
    )

    def coalesce_wait_ms(self, costly_calls: bool) -> float:
        """``coalesce_max_ms`` resolved for a model whose calls cost more than their rows, or not."""
        if self.coalesce_max_ms != "auto":
            return max(float(self.coalesce_max_ms), self.coalesce_ms)
        return max(COSTLY_CALL_WAIT_MS, self.coalesce_ms) if costly_calls else self.coalesce_ms


class PackageSettings(_Section):
    """Names of what the package stage builds."""

    model_name: str = Field("genre-recourse", description="The BentoML model's name (its tag is the version).")
    bento_name: str = Field("genre-recourse-service", description="The bento's name.")


class ScheduleSettings(_Section):
    """Unattended retraining's schedule (flows.schedule)."""

    cron: str = Field(
        "0 3 * * 1", description="When a retraining run (flows.retrain) starts; Mondays 03:00 by default."
    )
    deployment_name: str = Field("genre-retrain", description="The Prefect deployment's name.")

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

    alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description=(
            "A feature drifted if its two-sample test (KS or chi-square), BH-corrected over the features, is below "
            "this ..."
        ),
    )
    max_psi: float = Field(0.2, gt=0, description="... and its population stability index reaches this.")
    max_label_shift: float = Field(
        0.1, gt=0, le=1, description="The favourable-label rate may move this much (absolute)."
    )
    max_approval_shift: float = Field(
        0.1, gt=0, le=1, description="The production classifier's approval rate on the batch may move this much."
    )
    max_label_auc_drop: float = Field(
        0.05,
        gt=0,
        le=1,
        description=(
            "The production classifier's AUC on the batch's own labels may fall this far below its AUC on its "
            "held-out rows, beyond the noise (the top of a gate.confidence bootstrap interval over the batch's "
            "rows): labels swapped or changed in meaning are held for a person, like drift."
        ),
    )


class GateSettings(_Section):
    """When a challenger may replace the production model (genre.retraining.gate)."""

    applicants: PositiveInt = Field(
        200, description="The gate set: held-out applicants the champion denies, a fixed seeded subset."
    )
    seed: int = Field(0, description="Seeds the gate set.")
    sibling: bool = Field(
        True,
        description=(
            "Where a challenger falls short of production, judge it also against production's own retrain (its rows, "
            "params and choices, other seeds; trained once per production model, genre.retraining.sibling): a "
            "comparison it fails against production passes if it passes against the two averaged."
        ),
    )
    score_tolerance: float = Field(
        0.02, ge=0, description="The challenger's score may be this much below the champion's."
    )
    min_promises_kept: float = Field(
        0.95,
        ge=0,
        le=1,
        description=(
            "The share of the champion's recourses (gate set, and the answer log's) the challenger must still accept."
        ),
    )
    group_gap_tolerance: float = Field(
        0.05, ge=0, description="Per immutable category: found rate, validity and cost gaps may widen this much."
    )
    promise_days: PositiveInt = Field(
        30, description="Recourses issued this recently (serve.answer_log) are promises to keep."
    )
    confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description=(
            "Each rule's paired bootstrap interval (genre.retraining.bootstrap): a challenger fails a rule only "
            "where even the favourable end of this interval is past its tolerance, not for a difference inside "
            "the noise; the group-gap rules share it as a family (each at 1 - (1 - confidence) / their number)."
        ),
    )
    draws: PositiveInt = Field(1000, description="Bootstrap resamples of the gate applicants per interval.")
    found_rate_tolerance: float = Field(
        0.02,
        ge=0,
        description=(
            "The challenger may find a recourse for this much smaller a share of the applicants both deny than "
            "the champion: a better score must not come from leaving the hard cases unanswered."
        ),
    )
    auc_tolerance: float = Field(
        0.02,
        ge=0,
        description=(
            "The challenger's classifier may rank the held-out test rows this much worse (AUC) than the "
            "champion's: a rule on the classifier's own quality, on a set fixed across runs."
        ),
    )
    quality_rows: PositiveInt = Field(
        5000, description="Held-out test rows (a seeded sample) the classifiers' AUC is compared on."
    )
    margins: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        [0.0, 0.02, 0.05],
        description=(
            "The champion re-answers the gate set at each recourse.margin: found rate, cost and promises kept by "
            "margin."
        ),
    )


class RetrainSettings(_Section):
    """Where unattended retraining (flows.retrain) takes new batches from and puts the ones it
    refuses; accepted ones move to ``ingest.batches`` and stay training data only while no
    challenger trained on them is refused. Files are moved whole, never edited."""

    incoming: Path = Field(
        Path("data/incoming"),
        description="Drop new labelled CSVs here (the training data's columns); taken in name order.",
    )
    quarantine: Path = Field(
        Path("data/quarantine"),
        description=(
            "Files in incoming that could not be used (unreadable, not a CSV, invalid, or rows taken before), "
            "each beside its report."
        ),
    )
    held: Path = Field(
        Path("data/held"),
        description=(
            "Batches that drifted, each beside its drift report and pictures, for a person to look at: the run stops "
            "there."
        ),
    )
    refused: Path = Field(
        Path("data/refused"),
        description=(
            "Batches a refused or failed challenger was trained on, each beside the decision that set it aside: "
            "never trained on again unless a person releases it (genre data release)."
        ),
    )
    withdrawn: Path = Field(
        Path("data/withdrawn"),
        description="Batches taken back out of the training data by genre data withdraw, each beside its record.",
    )
    notify: str | None = Field(
        None,
        description=(
            "A webhook URL: each unattended run's decision is POSTed to it as JSON (its one-line summary, the "
            "batches, the record, the Prefect flow run). null: none."
        ),
    )
    backup: bool = Field(
        True,
        description=(
            "After every run and every change by hand, dvc add the registry and the accepted batches "
            "(genre.retraining.backup), so DVC can restore them."
        ),
    )
    backup_remote: str | None = Field(
        None,
        description="A DVC remote (dvc remote add) each backed-up version is also pushed to. null: the cache only.",
    )

    @field_validator("notify")
    @classmethod
    def _a_web_address(cls, url: str | None) -> str | None:
        """Only http(s): anything else urllib would open (a local file) is not a webhook."""
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


class RunnerSettings(_Section):
    """Where the per-chunk work runs (genre.parallel): pair synthesis per immutable group, the
    evaluation's recourse sampling and the batch CLI per block of applicants. The figures do not
    depend on it: every piece is computed as it would be in one piece."""

    kind: Literal["inprocess", "dask"] = Field(
        "inprocess", description="inprocess, or dask: a local Dask cluster (prefect-dask), or the one at address."
    )
    address: str | None = Field(
        None,
        description=(
            "dask: an existing cluster's scheduler (tcp://host:8786; its workers need genre installed); null starts "
            "a local cluster."
        ),
    )
    workers: PositiveInt = Field(
        2,
        description=(
            "A local cluster's worker processes; each immutable group's sources are split in at least this many parts."
        ),
    )
    threads_per_worker: PositiveInt = Field(1, description="Threads per local Dask worker.")
    chunk_rows: PositiveInt = Field(
        10_000,
        description=(
            "Applicants per piece: pair sources, evaluation's recourse sampling, the batch CLI (read and written a "
            "chunk at a time)."
        ),
    )

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

    root: Path = Field(Path("."), description="The project folder: params.yaml's own; relative paths start there.")
    ingest: IngestSettings = Field(description="Stage ingest: the validated data.")
    train_classifier: ClassifierSettings = Field(ClassifierSettings(), description="Stage train_classifier.")
    synthesize_pairs: PairSettings = Field(PairSettings(), description="Stage synthesize_pairs.")
    train_generator: GeneratorSettings = Field(GeneratorSettings(), description="Stage train_generator.")
    recourse: RecourseSettings = Field(RecourseSettings(), description="Recourse, wherever it is sampled.")
    evaluate: EvaluateSettings = Field(EvaluateSettings(), description="Stage evaluate.")
    wachter: WachterSettings = Field(WachterSettings(), description="A baseline (benchmarks only).")
    dice: DiceSettings = Field(DiceSettings(), description="A baseline (benchmarks only).")
    serve: ServeSettings = Field(ServeSettings(), description="The service's limits and answer log.")
    package: PackageSettings = Field(PackageSettings(), description="Stage package.")
    schedule: ScheduleSettings = Field(ScheduleSettings(), description="Scheduled retraining.")
    drift: DriftSettings = Field(DriftSettings(), description="Drift of a new batch.")
    gate: GateSettings = Field(GateSettings(), description="The retraining gate.")
    retrain: RetrainSettings = Field(RetrainSettings(), description="Unattended retraining's folders.")
    runner: RunnerSettings = Field(RunnerSettings(), description="Where per-chunk work runs.")

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    def written_out(self) -> dict[str, Any]:
        """These settings as ``params.yaml`` holds them, every default written out (``root`` is the
        file's own folder, so not in it): what a packaged model was trained with."""
        return self.model_dump(mode="json", exclude={"root"})


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
