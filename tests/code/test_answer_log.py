"""The service's answer log: one JSON line per answer in a file per UTC day, whole lines under
concurrent requests, and days past the retention period deleted."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from genre.serving.answer_log import AnswerLog, answer_log_folder, log_files, read_answers


def test_lines_are_appended_to_todays_file_and_old_days_are_forgotten(tmp_path: Path) -> None:
    today = datetime.now(UTC)
    recent, stale = (today - timedelta(days=2)).strftime("%Y-%m-%d"), (today - timedelta(days=40)).strftime("%Y-%m-%d")
    for day in (recent, stale):
        (tmp_path / f"answers-{day}.jsonl").write_text('{"time": "then"}\n')
    log = AnswerLog(tmp_path, keep_days=30)
    log.append(
        "genre-recourse:v1",
        [{"applicant": {"age": 40}, "status": "found"}, {"applicant": {"age": 50}, "status": "not_needed"}],
    )
    assert [p.name for p in log_files(tmp_path)] == [f"answers-{recent}.jsonl", f"answers-{today:%Y-%m-%d}.jsonl"]
    lines = [json.loads(line) for line in log_files(tmp_path)[-1].read_text().splitlines()]
    assert [(e["model_version"], e["applicant"]["age"], e["status"]) for e in lines] == [
        ("genre-recourse:v1", 40, "found"),
        ("genre-recourse:v1", 50, "not_needed"),
    ]
    assert datetime.fromisoformat(lines[0]["time"]) >= today - timedelta(seconds=5)


def test_concurrent_requests_never_interleave_a_line(tmp_path: Path) -> None:
    log = AnswerLog(tmp_path / "answers", keep_days=1)

    def requests(worker: int) -> None:
        for i in range(50):
            log.append("m:v", [{"applicant": {"id": f"{worker}-{i}", "text": "x" * 5000}}])

    threads = [threading.Thread(target=requests, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [day] = log_files(tmp_path / "answers")
    ids = [json.loads(line)["applicant"]["id"] for line in day.read_text().splitlines()]
    assert sorted(ids) == sorted(f"{w}-{i}" for w in range(8) for i in range(50))


def test_a_torn_line_is_skipped_and_reported_not_fatal(tmp_path: Path, caplog) -> None:
    """A full disk or a killed worker can leave half a line; the gate must still read the rest."""
    log = AnswerLog(tmp_path, keep_days=30)
    log.append("m:v", [{"status": "found", "n": 1}])
    day = log_files(tmp_path)[-1]
    with day.open("a") as out:
        out.write('{"time": "2026-')  # torn
    log.append("m:v", [{"status": "found", "n": 2}])
    with caplog.at_level("WARNING"):
        read = read_answers(tmp_path, datetime.now(UTC) - timedelta(days=1))
    assert [e["n"] for e in read] == [1]  # the second line was glued onto the torn one
    assert "line 2: not a whole answer, skipped" in caplog.text


def test_a_relative_folder_is_the_followed_projects(tmp_path: Path, monkeypatch) -> None:
    from genre.serving.follow import PROJECT_ENV

    monkeypatch.delenv(PROJECT_ENV, raising=False)
    assert answer_log_folder("logs/answers") == Path("logs/answers")
    assert answer_log_folder(None) is None
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path))
    assert answer_log_folder("logs/answers") == tmp_path / "logs/answers"
    assert answer_log_folder("/var/answers") == Path("/var/answers")


def test_a_folder_the_log_creates_is_its_owners_alone(tmp_path: Path) -> None:
    AnswerLog(tmp_path / "new" / "answers", keep_days=760)
    assert oct((tmp_path / "new" / "answers").stat().st_mode & 0o777) == "0o700"
    (tmp_path / "given").mkdir(mode=0o750)
    AnswerLog(tmp_path / "given", keep_days=760)  # the operator's own folder keeps its access
    assert oct((tmp_path / "given").stat().st_mode & 0o777) == "0o750"
