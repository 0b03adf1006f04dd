"""``genre keys`` (who may ask the service) and ``genre record`` (what it answered: show, replay,
forget). Both read the project's params.yaml for where the key file and the answer log are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from genre.cli.common import ParamsOption, err, project_settings, refuse
from genre.messages import InputError, one_line
from genre.offline import go_offline
from genre.settings import Settings

if TYPE_CHECKING:
    from genre.serving.keys import StoredKey


keys_app = typer.Typer(add_completion=False, help="API keys: who may ask the service (serve.api_keys).")


def key_file(settings: Settings) -> Path:
    if settings.serve.api_keys is None:
        raise refuse("serve.api_keys is null in params.yaml: this project serves without keys")
    return settings.resolve(Path(settings.serve.api_keys))


def loaded_keys(path: Path) -> list[StoredKey]:
    from genre.serving.keys import load_keys

    try:
        return load_keys(path).keys
    except InputError as exc:
        raise refuse(str(exc)) from None


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. the calling system's name.")],
    params: ParamsOption = Path("params.yaml"),
    per_minute: int | None = typer.Option(None, min=1, help="Applicants a minute (default: serve.key_per_minute)."),
    per_day: int | None = typer.Option(None, min=1, help="Applicants a day (default: serve.key_per_day)."),
    unlimited: bool = typer.Option(False, help="No rate and no quota for this key."),
) -> None:
    """A new API key for NAME, printed once (only its hash is kept); a running service takes it at once."""
    from genre.serving.keys import add_key

    settings = project_settings(params)
    path = key_file(settings)
    minute = None if unlimited else per_minute or settings.serve.key_per_minute
    day = None if unlimited else per_day or settings.serve.key_per_day
    try:
        key = add_key(path, name, minute, day)
    except InputError as exc:
        raise refuse(str(exc)) from None
    typer.echo(key)
    err.print(
        f"key for {escape(name)} added to {escape(str(path))} ({minute or 'no limit'} a minute, {day or 'no quota'} "
        "a day); it is shown this once",
        highlight=False,
    )


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key's name or id (genre keys list).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Revoke a key: its callers get HTTP 403 from their next request on, without a restart."""
    from genre.serving.keys import revoke_key

    path = key_file(project_settings(params))
    try:
        key = revoke_key(path, name)
    except InputError as exc:
        raise refuse(str(exc)) from None
    err.print(f"revoked: {escape(key.name)} (id {key.id}) at {key.revoked}", highlight=False)


@keys_app.command("list")
def keys_list(params: ParamsOption = Path("params.yaml")) -> None:
    """Every key: id, name, limits, and when it was created or revoked (never the key)."""
    for key in loaded_keys(key_file(project_settings(params))):
        state = f"revoked {key.revoked}" if key.revoked else "live"
        typer.echo(
            f"{key.id}\t{key.name}\t{key.per_minute or '-'}/min\t{key.per_day or '-'}/day\t"
            f"created {key.created}\t{state}"
        )


record_app = typer.Typer(
    add_completion=False, help="The answers the service gave (serve.answer_log): show, replay, forget."
)


def _log_folder(settings: Settings) -> Path:
    if settings.serve.answer_log is None:
        raise refuse("serve.answer_log is null in params.yaml: this project keeps no records")
    return settings.resolve(Path(settings.serve.answer_log))


def _record(settings: Settings, record_id: str) -> dict[str, Any]:
    from genre.serving.answer_log import find

    folder = _log_folder(settings)
    entry = find(folder, record_id)
    if entry is None:
        raise refuse(
            f"no record {one_line(record_id)!r} in {folder} (erased, past serve.answer_log_days, "
            "or answered by a service keeping its log elsewhere)"
        )
    return entry


RecordId = Annotated[str, typer.Argument(help="The answer's record_id (in the answer, and in the answer log).")]


@record_app.command("show")
def record_show(record_id: RecordId, params: ParamsOption = Path("params.yaml")) -> None:
    """One record as JSON: who asked, the applicant, the model and data versions, the answer and its reasons."""
    typer.echo(json.dumps(_record(project_settings(params), record_id), indent=2, ensure_ascii=False))


@record_app.command("replay")
def record_replay(record_id: RecordId, params: ParamsOption = Path("params.yaml")) -> None:
    """Answer the recorded applicant again with the recorded model version and options, and say
    whether the answer is byte-identical to the record (exit 1 when it is not)."""
    from genre.serving.replay import replayed

    go_offline()
    entry = _record(project_settings(params), record_id)
    try:
        recorded, again = replayed(entry)
    except InputError as exc:
        raise refuse(str(exc)) from None
    if recorded == again:
        typer.echo(f"{record_id}: identical ({entry['model_version']}, {len(again.encode())} bytes)")
        return
    typer.echo(f"{record_id}: DIFFERENT from the record ({entry['model_version']})")
    typer.echo(f"recorded: {recorded}")
    typer.echo(f"replayed: {again}")
    raise typer.Exit(code=1)


@record_app.command("forget")
def record_forget(
    params: ParamsOption = Path("params.yaml"),
    applicant_hash: str | None = typer.Option(
        None, help="Every record of this applicant: the SHA-256 of their JSON, keys sorted, no spaces (input_hash)."
    ),
    record: str | None = typer.Option(None, help="One record, by its record_id."),
) -> None:
    """Erase one person's records (or one record) from the answer log, and say how many were erased."""
    from genre.serving.answer_log import forget

    if (applicant_hash is None) == (record is None):
        raise refuse("name exactly one of --applicant-hash H or --record ID")
    folder = _log_folder(project_settings(params))
    field, value = ("input_hash", applicant_hash) if applicant_hash is not None else ("record_id", record)
    erased = forget(folder, lambda entry: entry.get(field) == value)
    typer.echo(f"erased {erased} record{'s' if erased != 1 else ''} with {field} {value} from {folder}")
