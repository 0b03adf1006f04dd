"""``genre``: the command line. ``genre recourse`` answers a CSV of applicants in raw units;
``genre schema infer`` writes a first schema for a CSV of one's own; ``genre production`` shows,
promotes, rolls back and serves the production model; ``genre data`` checks, releases and
withdraws batches of new data; ``genre keys`` and ``genre record`` are in ``genre.cli.access``.

Rows that do not match the schema are reported by line and field and come back marked invalid;
the valid rows are still answered, and the exit code says whether every row was valid.

Each command imports the heavy libraries it needs (torch, pandas, BentoML, Prefect, the recourse
engine, retraining) itself: ``--help`` or ``genre production show`` would otherwise pay seconds of
imports to print a line.
"""

from __future__ import annotations

import gzip
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape

from genre.artifacts.atomic import atomic_path, write_json, write_text, write_with
from genre.artifacts.paths import Artifacts
from genre.cli.access import key_file, keys_app, loaded_keys, record_app
from genre.cli.common import ParamsOption, err, project_settings, refuse
from genre.data.schema import MAX_CATEGORIES
from genre.messages import InputError, one_line
from genre.offline import go_offline
from genre.parallel import chunk_runner
from genre.serving import production
from genre.settings import RunnerSettings, Settings

if TYPE_CHECKING:
    import pandas as pd

    from genre.recourse.engine import RecourseEngine

app = typer.Typer(add_completion=False, help="GenRe generative recourse.")


schema_app = typer.Typer(add_completion=False, help="The dataset schema: what each column is and what may change.")
app.add_typer(schema_app, name="schema")
production_app = typer.Typer(
    add_completion=False, help="Which model version is production: show, promote, roll back, serve it."
)
app.add_typer(production_app, name="production")
data_app = typer.Typer(add_completion=False, help="New data: is a batch fit to train on?")
app.add_typer(data_app, name="data")


@app.callback()
def _root() -> None:
    """Keeps ``recourse`` a named subcommand, so more can join it."""


def _production(settings: Settings, hint: str = "") -> production.Release:
    """The production release, or exit 2 with one line: none yet, or a record that cannot be read."""
    try:
        release = production.production(settings.root)
    except InputError as exc:
        raise refuse(str(exc)) from None
    if release is None:
        raise refuse(
            "no model is in production yet: run dvc repro (its first model is promoted), "
            f"or genre production promote <model>{hint}"
        )
    return release


def _engine(settings: Settings, workspace: bool) -> tuple[RecourseEngine, str]:
    """The engine that answers, and what it is: the pipeline's latest artifacts, or (the default)
    the production model, the one the service deploys."""
    from genre.serving.bundle import engine_from_artifacts, load_bundle

    if workspace:
        return engine_from_artifacts(
            Artifacts(settings.root), settings.recourse
        ), "the pipeline's latest artifacts (--workspace)"
    release = _production(settings, "; or pass --workspace to answer from the pipeline's latest artifacts")
    try:
        return load_bundle(production.model_path(release.model)), f"{release.model} (production)"
    except InputError as exc:
        raise refuse(str(exc)) from None


def missing_columns(engine: RecourseEngine, columns: list[str]) -> list[str]:
    """Problems of the file as a whole, said once, not once per row: features it lacks."""
    schema = engine.pre.schema
    absent = [name for name in schema.feature_names if name not in columns and name not in engine.pre.fills]
    return [f"column {one_line(repr(name))} is missing from the file; every applicant needs it" for name in absent]


def build_output(
    engine: RecourseEngine, raw: pd.DataFrame, seed: int, first_line: int = 2
) -> tuple[pd.DataFrame, list[str]]:
    """-> (one output row per input row, the problems of the invalid rows, by line of the file:
    ``raw``'s first row is on ``first_line``). A chunk of a file is answered as the whole would be:
    each applicant's draws are seeded by its own values. The added columns are built as lists and
    set once each: setting a frame's cells a row at a time cost as much as the recourse itself."""
    import pandas as pd

    from genre.serving.answers import answer
    from genre.serving.applicants import check_applicants

    raw = raw.reset_index(drop=True)
    schema = engine.pre.schema
    valid, kept, errors, imputed = check_applicants(
        cast("list[dict[str, Any]]", raw.to_dict("records")),  # a CSV's columns are named by strings
        schema,
        from_text=True,
        ignored=frozenset({schema.target.name}),
        fills=engine.pre.fills,
    )
    rows = len(raw)
    blank = {"status": "invalid", "found": False, "cost": None, "probability_before": None, "probability_after": None}
    extra: dict[str, list[object]] = {
        k: [v] * rows for k, v in {**blank, "reasons": "", "imputed": "", "error": ""}.items()
    }
    moved: dict[str, list[object]] = {}  # features a recourse changes: the file's column, or new for a filled gap
    for row, given, filled in zip(kept, answer(engine, valid, seed=seed), imputed, strict=True):
        for name in ("status", "cost", "probability_before", "probability_after"):
            extra[name][row] = given[name]
        extra["found"][row] = given["status"] == "found"
        extra["imputed"][row] = ";".join(filled)
        extra["reasons"][row] = ";".join(reason["feature"] for reason in given["reasons"])  # most important first
        if given["status"] == "found":  # other rows keep the applicant's own values
            for name, value in given["recourse"].items():
                if name not in moved:
                    moved[name] = raw[name].tolist() if name in raw.columns else [None] * rows
                moved[name][row] = str(value)
    messages = []
    for e in errors:
        messages.append(f"line {e.row + first_line}: {e.field}: {e.problem}")
        extra["error"][e.row] = "; ".join(filter(None, [cast(str, extra["error"][e.row]), f"{e.field}: {e.problem}"]))
    out = raw.copy()
    for name, values in {**extra, **moved}.items():
        out[name] = pd.Series(values, dtype=object)
    return out, messages


def _data_lines(path: Path) -> int:
    """Rows in a CSV, for the progress bar: its lines less the header (a quoted line break
    counts twice; the bar is a guide, the answers are counted as they are written)."""
    lines = 0
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
        while block := handle.read(1 << 24):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def _answer_file(
    engine: RecourseEngine, input: Path, tmp: Path, seed: int, runner: RunnerSettings
) -> tuple[Counter[str], list[str]]:
    """Every row of ``input`` answered into ``tmp``, ``runner.chunk_rows`` rows at a time: a
    chunk is read, answered (here, or on the Dask cluster ``runner`` names) and appended, so
    neither file is ever whole in memory. -> (rows per status, the invalid rows' problems)."""
    import pandas as pd
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    counts: Counter[str] = Counter()
    problems: list[str] = []
    chunks = pd.read_csv(input, dtype=str, keep_default_na=False, chunksize=runner.chunk_rows)
    first = next(chunks, None)
    if first is None:
        first = pd.read_csv(input, dtype=str, keep_default_na=False)  # a header alone: no rows to answer
    if missing := missing_columns(engine, list(first.columns)):
        raise refuse("\n".join(missing))
    calls = (
        {"engine": engine, "raw": chunk, "seed": seed, "first_line": 2 + i * runner.chunk_rows}
        for i, chunk in enumerate(itertools.chain([first], chunks))
    )
    columns = [TextColumn("answering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with (
        Progress(*columns, console=err, transient=True) as bar,
        chunk_runner(runner, "recourse-chunk") as mapper,
        tmp.open("w", newline="") as out,
    ):
        rows = bar.add_task("answering", total=_data_lines(input))
        for i, (answered, said) in enumerate(mapper(build_output, calls)):
            answered.to_csv(out, index=False, header=i == 0)
            counts.update(answered["status"])
            problems += said
            bar.advance(rows, len(answered))
    return counts, problems


@app.command()
def recourse(
    input: Annotated[
        Path, typer.Option("--input", "-i", exists=True, dir_okay=False, help="CSV of applicants in raw units.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="Where to write one answer per row.")],
    params: Annotated[Path, typer.Option(help="params.yaml of the pipeline whose trained model to use.")] = Path(
        "params.yaml"
    ),
    model_dir: Annotated[
        Path | None, typer.Option(help="A model bundle folder instead (e.g. a BentoML model's path).")
    ] = None,
    workspace: Annotated[
        bool, typer.Option(help="Answer from the pipeline's latest artifacts, not the production model.")
    ] = False,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            min=1, help="Rows read, answered and written at a time (default: runner.chunk_rows in params.yaml)."
        ),
    ] = None,
    seed: int = 0,
) -> None:
    """Answer every applicant in INPUT with the production model, a chunk of rows at a time (on
    the runner params.yaml names); invalid rows are listed by line and field, and the exit code is 1."""
    import pandas as pd

    from genre.serving.bundle import load_bundle

    go_offline()
    if model_dir is not None:
        engine, source = load_bundle(model_dir), f"the bundle in {one_line(str(model_dir), 200)}"
        runner = (
            project_settings(params).runner if params.is_file() else RunnerSettings()
        )  # where the chunks run, if a project says
    else:
        settings = project_settings(params)
        (engine, source), runner = _engine(settings, workspace), settings.runner
    if chunk_rows is not None:
        runner = runner.model_copy(update={"chunk_rows": chunk_rows})
    try:
        with atomic_path(output) as tmp:  # a refused or failed file leaves any earlier output as it was
            counts, problems = _answer_file(engine, input, tmp, seed, runner)
    except (
        pd.errors.EmptyDataError,
        pd.errors.ParserError,
        UnicodeDecodeError,
    ) as exc:  # the file, not our code: one line
        raise refuse(f"{one_line(str(input), 300)} cannot be read as CSV: {one_line(str(exc), 300)}") from None
    err.print(
        f"wrote {counts.total()} rows to {escape(one_line(str(output), 500))}, answered by {escape(source)}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    for line in problems:  # quoted names and values are escaped already; the markup escape keeps rich from reading them
        err.print(f"[red]invalid[/red] {escape(line)}", highlight=False)
    if problems:
        raise typer.Exit(code=1)


@schema_app.command("infer")
def infer(
    data: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="The CSV(s) to describe: every file the pipeline will read, train and test (.gz is read too).",
        ),
    ],
    target: Annotated[str, typer.Option("--target", help="The column holding the decision (two labels).")],
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="Where to write the schema (YAML).")],
    favourable: Annotated[
        str | None, typer.Option(help="The label a person asks for; guessed, and marked as a guess, when left out.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The dataset's name in the schema (default: the first CSV's file or folder name)."),
    ] = None,
    margin: Annotated[
        float, typer.Option(min=0.0, help="Widen each numeric range by this fraction of its width on both sides.")
    ] = 0.0,
    max_categories: Annotated[
        int, typer.Option(min=2, help="A text column with more distinct values is refused as a feature.")
    ] = MAX_CATEGORIES,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
) -> None:
    """Write a schema for DATA to review: each column's kind, bounds and categories as the data shows them."""
    import pandas as pd

    from genre.data.inference import InferenceError, infer_schema, schema_yaml

    if output.exists() and not force:
        raise refuse(f"{one_line(str(output), 500)} exists; pass --force to overwrite it, or choose another --output")
    frames = []
    for path in data:
        try:
            # Every cell as text and only empty cells as missing: "NA", "None" or "no" are values here.
            frames.append(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
        except (ValueError, UnicodeDecodeError, OSError) as exc:  # pandas' parser and codec errors are ValueErrors
            raise refuse(f"{one_line(str(path), 500)}: cannot be read as CSV: {one_line(str(exc), 300)}") from None
        if list(frames[-1].columns) != list(frames[0].columns):
            raise refuse(
                f"{one_line(str(path), 500)}: its columns differ from {one_line(str(data[0]), 500)}'s; "
                "the files must share one header"
            )
    stem = data[0].name.removesuffix(".gz").removesuffix(".csv")
    if stem in ("train", "test", "data") and data[0].resolve().parent.name:  # data/raw/loans/train.csv: "loans"
        stem = data[0].resolve().parent.name
    source = " + ".join(path.name for path in data)
    try:
        inferred = infer_schema(
            pd.concat(frames, ignore_index=True),
            target,
            name=name or stem,
            favourable=favourable,
            margin=margin,
            max_categories=max_categories,
            source=source,
            min_rows=min(len(frame) for frame in frames),
        )
    except InferenceError as exc:
        raise refuse(str(exc)) from None
    write_with(output, lambda tmp: tmp.write_text(schema_yaml(inferred)))
    kinds = pd.Series([f.kind for f in inferred.schema.features.values()]).value_counts().to_dict()
    filled = [n for n, f in inferred.schema.features.items() if f.missing != "reject"]
    target_spec = inferred.schema.target
    err.print(
        f"wrote {escape(one_line(str(output), 500))}: {len(inferred.schema.features)} features ("
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        + (f"; gaps filled in {len(filled)}" if filled else "")
        + f"), target {escape(one_line(repr(target_spec.name)))} "
        f"with favourable label {escape(one_line(repr(target_spec.favourable)))} ({escape(inferred.favourable_note)}); "
        + f"{len(inferred.guesses)} features marked as a GUESS (immutable, only up, the smallest change that matters). "
        "Review it: check each GUESS, mark anything else a recourse must not change, "
        "then point params.yaml's ingest.schema_path at it.",
        highlight=False,
    )


def _said(release: production.Release) -> str:
    who = f" ({release.who})" if release.who else ""
    replaced = release.replaced or release.previous  # a record from before `replaced` was kept
    return f"{release.model} (bento {release.bento}), by {release.by}{who} at {release.at}: {release.reason}" + (
        f"; replaced {replaced}" if replaced else ""
    )


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """The project's run lock, or one line saying which run holds it: production does not change
    under a retraining run, which reads it and may promote. A change under it that cannot be made
    (an ``InputError``) is one line too, and nothing is backed up."""
    from genre.retraining.lock import run_lock

    with ExitStack() as held:
        try:
            held.enter_context(run_lock(settings.root))
            yield
        except InputError as exc:
            raise refuse(str(exc)) from None
        _back_up(settings)


def _back_up(settings: Settings) -> None:
    """After a change by hand: the registry and the batches backed up as a run does (genre.retraining.backup)."""
    from genre.retraining.backup import BackupFailed, back_up

    try:
        err.print(escape(back_up(settings)), highlight=False)
    except BackupFailed as exc:
        err.print(f"warning: backup failed: {escape(str(exc))}", highlight=False)


def _registry_call(call: Callable[[], production.Release], done: str) -> None:
    go_offline()
    try:
        release = call()
    except InputError as exc:
        raise refuse(str(exc)) from None
    err.print(f"{done} {escape(_said(release))}", highlight=False)


@production_app.command("show")
def production_show(
    params: ParamsOption = Path("params.yaml"), history: bool = typer.Option(False, help="Every change, oldest first.")
) -> None:
    """The production model and bento, and how they got there."""
    settings = project_settings(params)
    _production(settings)  # or one line saying why there is none
    registry = production.load_registry(settings.root)
    assert registry.current is not None  # _production above exits when there is none
    for release in registry.history if history else [registry.current]:
        typer.echo(_said(release))


@production_app.command("promote")
def production_promote(
    model: Annotated[
        str,
        typer.Argument(help="A model version in the BentoML store, e.g. genre-recourse:abc123 (bentoml models list)."),
    ],
    params: ParamsOption = Path("params.yaml"),
    reason: str = typer.Option("promoted by hand", help="Why, for the record."),
    gate: bool = typer.Option(
        False, help="Only if MODEL passes the gate against production (params.yaml gate); the decision is recorded."
    ),
) -> None:
    """Make MODEL (and the newest bento built for it) production."""
    settings = project_settings(params)
    if not gate:
        with _locked(settings):
            _registry_call(
                lambda: production.promote(settings.root, model, by="hand", reason=reason), "production is now"
            )
        return
    with _locked(settings):  # backed up on the way out, a refusal's decision record too
        record, passed = _gated(settings, model, promote=True)
        if passed:
            _registry_call(lambda: _production(settings), "production is now")
    if not passed:
        raise refuse(f"refused by the gate: {model} stays out of production (record: {record})")


@production_app.command("compare")
def production_compare(
    model: Annotated[str, typer.Argument(help="The challenger: a model version in the BentoML store.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Judge MODEL against production on the gate set, rule by rule, and record it; production is not changed."""
    _, passed = _gated(project_settings(params), model, promote=False)
    if not passed:
        raise typer.Exit(code=1)


def _gated(settings: Settings, challenger_tag: str, promote: bool) -> tuple[Path, bool]:
    """Production against ``challenger_tag`` under the gate's rules: each printed, the whole
    recorded under registry/decisions/; -> (the record, whether every rule passed)."""
    from genre.retraining.gate import GateRule, shown
    from genre.retraining.run import gate_by_hand

    go_offline()
    _production(settings)
    try:
        record = gate_by_hand(settings, challenger_tag, promote)
    except InputError as exc:
        raise refuse(str(exc)) from None
    comparison = record["comparison"]
    for rule in comparison["rules"]:
        typer.echo(GateRule(**rule).said())
    for row in comparison["promises_by_margin"]:
        typer.echo(
            f"at recourse.margin {row['margin']:g}, production's recourses: found rate {row['found_rate']:.3f}, "
            f"mean cost {shown(row['cost'])}, promises kept {shown(row['promises_kept'])}"
        )
    err.print(
        f"{record['challenger']} against production {record['champion']}: "
        f"{'passes' if comparison['passed'] else 'fails'} the gate; record {escape(record['path'])}",
        highlight=False,
    )
    return Path(record["path"]), comparison["passed"]


@production_app.command("rollback")
def production_rollback(
    params: ParamsOption = Path("params.yaml"),
    reason: str = typer.Option("rolled back by hand", help="Why, for the record."),
) -> None:
    """Make production the model the current one replaced."""
    settings = project_settings(params)
    with _locked(settings):
        _registry_call(lambda: production.rollback(settings.root, reason), "production is now")


@production_app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def production_serve(
    ctx: typer.Context,
    params: ParamsOption = Path("params.yaml"),
    ops_port: int | None = typer.Option(
        None, help="Serve /healthz, /livez, /readyz and /metrics on this port only, not on the answering port."
    ),
    ops_host: str = typer.Option("127.0.0.1", help="The address the ops port listens on."),
) -> None:
    """Serve the production bento with ``bentoml serve`` (further options, e.g. --port 3000, are passed on);
    the service follows production: a promotion or rollback is answering within serve.follow_seconds."""
    from genre.serving.follow import PROJECT_ENV

    go_offline()
    settings = project_settings(params)
    release = _production(settings)
    os.environ[PROJECT_ENV] = str(settings.root.resolve())
    if settings.serve.api_keys is None:
        err.print("warning: serve.api_keys is null: anyone who can reach the port is answered", highlight=False)
    else:
        from genre.serving.keys import KEYS_ENV

        keys = key_file(settings)
        if not [k for k in loaded_keys(keys) if k.revoked is None]:
            raise refuse(
                f"no API key in {keys}: add one with `genre keys add NAME` (callers send it as "
                "Authorization: Bearer <key>), or set serve.api_keys: null to serve without keys"
            )
        os.environ[KEYS_ENV] = str(keys.resolve())
    err.print(f"serving {escape(_said(release))}", highlight=False)
    command = ["bentoml", "serve", release.bento, *ctx.args]
    if ops_port is None:
        os.execvp(command[0], command)
    raise typer.Exit(_served_with_ops_port(command, ops_host, ops_port))


def _served_with_ops_port(command: list[str], host: str, port: int) -> int:
    """``command`` run beside the ops port's forwarder until it exits; -> its exit code. SIGTERM and
    SIGINT are passed on to it, and it dies with this process however this process dies."""
    import secrets
    import signal
    import subprocess

    from genre.processes import die_with_parent
    from genre.serving.ops_port import OPS_TOKEN_ENV, ops_server, service_port

    token = secrets.token_urlsafe(32)
    answering = service_port(command, int(os.environ.get("BENTOML_PORT", "3000")))
    # started before the forwarder's thread: a child is only forked safely while this process has one thread
    server = subprocess.Popen(command, env={**os.environ, OPS_TOKEN_ENV: token}, preexec_fn=die_with_parent)  # noqa: PLW1509
    try:
        forwarder = ops_server(host, port, answering, token)
    except OSError as exc:
        server.terminate()
        server.wait()
        raise refuse(f"the ops port {host}:{port} cannot be opened: {exc.strerror or exc}") from None
    err.print(f"health, readiness and metrics on http://{host}:{port} only", highlight=False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda received, _: server.send_signal(received))
    try:
        return server.wait()
    finally:
        forwarder.shutdown()


@data_app.command("release")
def data_release(
    batch: Annotated[
        Path,
        typer.Argument(
            help="A batch held for drift or set aside by a refusal: its CSV in retrain.held or retrain.refused."
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why the batch is sound and may be trained on, for the record.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Put a batch held for drift, or set aside when a challenger trained on it was refused, back in
    incoming: the next retraining run validates it as ever and takes it without a drift check or
    its earlier verdict (for exactly these bytes; recorded in registry/released/)."""
    from genre.retraining.intake import release_held

    settings = project_settings(params)
    with _locked(settings):  # not while a run is taking batches
        waiting = release_held(settings, batch, reason)
    err.print(
        f"released: {escape(waiting.name)} waits in {escape(str(settings.retrain.incoming))} "
        "for the next retraining run, its drift check and any earlier verdict waived",
        highlight=False,
    )


@data_app.command("withdraw")
def data_withdraw(
    batch: Annotated[
        str, typer.Argument(help="An accepted batch: its file name in ingest.batches (data/raw/accepted).")
    ],
    reason: Annotated[str, typer.Option(help="Why it must not be trained on, for the record.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Take an accepted batch back out of the training data: the next retraining run trains without
    it, and the same rows sent again under any name are refused (recorded beside it in
    retrain.withdrawn and in registry/batches.json)."""
    from genre.retraining.withdrawal import withdraw_batch

    settings = project_settings(params)
    with _locked(settings):
        where = withdraw_batch(settings, batch, reason)
    err.print(
        f"withdrawn: {escape(where.name)} is in {escape(str(settings.retrain.withdrawn))}; the next retraining run "
        "trains without it (production keeps the model trained with it until a challenger without it is promoted)",
        highlight=False,
    )


@data_app.command("drift")
def data_drift(
    batch: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV of new labelled applicants, the training data's columns."
        ),
    ],
    params: ParamsOption = Path("params.yaml"),
    report: Annotated[Path | None, typer.Option(dir_okay=False, help="Write the whole report here (JSON).")] = None,
    workspace: Annotated[
        bool, typer.Option(help="Judge approvals with the pipeline's latest artifacts, not the production model.")
    ] = False,
) -> None:
    """Validate BATCH against the schema, then compare it with the rows the production model was
    trained on (drift section of params.yaml): exit 0 if nothing drifted, 1 if something did, 2 if
    the batch cannot be used."""
    from genre.artifacts.metrics_file import held_out_auc
    from genre.data.batches import BATCH_MIN_ROWS
    from genre.data.datasets import read_raw
    from genre.data.validation import validate_frame
    from genre.retraining.intake import batch_drift, reference_rows

    go_offline()
    settings = project_settings(params)
    engine, source = _engine(settings, workspace)
    schema = engine.pre.schema
    reference: pd.DataFrame | None
    try:
        frame = read_raw(batch, schema)
        validate_frame(frame, schema, min_rows=BATCH_MIN_ROWS).raise_for_failures(one_line(str(batch), 300))
        if workspace:
            paths = Artifacts(settings.root)
            reference, compared_with = read_raw(paths.train_csv, schema), "the workspace's training data"
            expected = held_out_auc(paths)
        else:
            release = production.production(settings.root)
            reference, compared_with = reference_rows(settings, release, schema)
            expected = None if release is None else production.held_out_auc(release.model)
    except InputError as exc:
        raise refuse(str(exc)) from None
    # production's model folder keeps its training sample (the package stage), so rows are found
    assert reference is not None
    result, frame = batch_drift(engine, reference, frame, settings, expected)
    if report is not None:
        write_json(
            report,
            {
                "batch": str(batch),
                "rows": len(frame),
                "reference": compared_with,
                "reference_rows": len(reference),
                "approvals_by": source,
                **result.to_json(),
            },
        )
    lines = result.drifted
    err.print(
        f"{escape(one_line(str(batch), 300))}: {len(frame)} rows against {len(reference)} rows of "
        f"{escape(compared_with)}, approvals by {escape(source)}: " + ("drifted" if lines else "no drift"),
        highlight=False,
    )
    for line in lines:
        err.print(f"drifted: {escape(line)}", highlight=False)
    if lines:
        raise typer.Exit(code=1)


app.add_typer(keys_app, name="keys")
app.add_typer(record_app, name="record")
params_app = typer.Typer(add_completion=False, help="params.yaml: what each key means.")
app.add_typer(params_app, name="params")


@params_app.command("reference")
def params_reference(
    out: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Write the page here instead of printing it.")
    ] = None,
) -> None:
    """Every key of params.yaml: its default, the values it takes and what it does, as Markdown
    (docs/configuration.md is this command's output)."""
    from genre.config_reference import reference

    text = reference()
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text(out, text)
