"""The service's answer log: one JSON line per answer in a file per UTC day, whole lines under
concurrent requests, and days past the retention period deleted."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from genre.serving.answer_log import AnswerLog, LogFailed, answer_log_folder, find, forget, log_files, read_answers


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
    assert answer_log_folder("logs/answers") == Path.cwd() / "logs/answers"
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


def test_a_write_that_fails_half_way_is_cut_back_and_refused(tmp_path: Path, monkeypatch) -> None:
    """A full disk mid-line: the half written is cut off (no torn line for the gate's reader), the
    caller is told the answer was not recorded, and the next write that succeeds clears the state."""
    import errno

    from genre.serving import answer_log

    log = AnswerLog(tmp_path, keep_days=30)
    log.append("m:v", [{"record_id": "a", "n": 1}])
    day = log_files(tmp_path)[-1]
    before = day.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 10:
            real_write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(answer_log.os, "write", half_then_full)
    with pytest.raises(LogFailed, match="could not be recorded"):
        log.append("m:v", [{"record_id": "b", "n": 2}])
    assert day.read_bytes() == before and log.failure is not None
    monkeypatch.setattr(answer_log.os, "write", real_write)
    monkeypatch.setattr(answer_log.os, "statvfs", lambda _: os.statvfs_result((4096, 4096, 1, 1, 0, 1, 1, 1, 0, 255)))
    assert not log.healthy()  # no room: readiness stays failed
    monkeypatch.undo()
    assert log.healthy()  # room again: ready, before any answer has tried
    log.append("m:v", [{"record_id": "c", "n": 3}])
    assert log.failure is None
    assert [e["n"] for e in read_answers(tmp_path, datetime.now(UTC) - timedelta(days=1))] == [1, 3]


def test_forget_erases_exactly_one_persons_records_and_loses_no_other(tmp_path: Path) -> None:
    """Erasure while the service writes: every line written meanwhile is kept, the person's are gone."""
    log = AnswerLog(tmp_path, keep_days=30)
    log.append("m:v", [{"record_id": f"r{i}", "input_hash": "h-gone" if i % 3 == 0 else "h-kept"} for i in range(30)])
    stop = threading.Event()
    written: list[str] = []

    def service() -> None:
        i = 0
        while not stop.is_set():
            log.append("m:v", [{"record_id": f"w{i}", "input_hash": "h-kept"}])
            written.append(f"w{i}")
            i += 1

    writer = threading.Thread(target=service)
    writer.start()
    erased = sum(forget(tmp_path, lambda e: e.get("input_hash") == "h-gone") for _ in range(20))
    stop.set()
    writer.join()
    assert erased == 10
    kept = [e["record_id"] for e in read_answers(tmp_path, datetime.now(UTC) - timedelta(days=1))]
    assert sorted(kept) == sorted([f"r{i}" for i in range(30) if i % 3] + written)
    assert find(tmp_path, "r1") is not None and find(tmp_path, "r0") is None
    assert {oct(p.stat().st_mode & 0o777) for p in log_files(tmp_path)} == {"0o600"}
