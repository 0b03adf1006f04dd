"""The gate as an operator runs it: ``genre production promote MODEL --gate`` refuses a worse
challenger (production untouched, answering exactly as before) and promotes one that keeps up."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from genre.artifacts.paths import Artifacts


def test_a_worse_challenger_is_refused_and_one_that_keeps_up_is_promoted(fast_project, tmp_path) -> None:
    project = fast_project.copy_to(tmp_path / "project")
    registry = project.root / "registry/production.json"
    production_before = registry.read_text()
    first = json.loads(Artifacts(project.root).metrics("package").read_text())["model_tag"]
    applicants = pd.read_csv(Artifacts(project.root).test_csv).head(20).drop(columns=["income"])
    applicants.to_csv(tmp_path / "applicants.csv", index=False)
    before = project.run(
        "genre", "recourse", "--input", str(tmp_path / "applicants.csv"), "--output", str(tmp_path / "before.csv")
    )
    assert before.returncode == 0, before.stderr[-2000:]

    # A worse model: one candidate per applicant and no retrieval (evaluate's floor lowered so it gets packaged).
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    good = yaml.safe_dump(params, sort_keys=False)
    params["recourse"].update(n_candidates=1, retrieved=0, reachable=0)
    params["evaluate"]["min_found_rate"] = 0.0
    (project.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repro = project.run("dvc", "repro")
    assert repro.returncode == 0, repro.stdout[-3000:]
    worse = json.loads(Artifacts(project.root).metrics("package").read_text())
    assert not worse["promoted"]

    refused = project.run("genre", "production", "promote", worse["model_tag"], "--gate")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(f"refused by the gate: {worse['model_tag']} stays out of production (record: ")
    )
    assert "kept in the DVC cache (registry.dvc)" in refused.stderr  # the refusal's record is backed up too
    failed = [line for line in refused.stdout.splitlines() if line.startswith("FAIL ")]
    assert any(line.startswith(("FAIL score not below", "FAIL found rate not below")) for line in failed), (
        refused.stdout
    )
    assert registry.read_text() == production_before
    [record] = (project.root / "registry/decisions").glob("*.json")
    decided = json.loads(record.read_text())
    assert (decided["decision"], decided["champion"], decided["challenger"]) == ("refused", first, worse["model_tag"])
    figures = decided["comparison"]["figures"]
    assert figures["challenger"]["found_rate"] < figures["champion"]["found_rate"] - 0.02  # fewer people answered
    assert decided["comparison"]["judges"] == f"judges fitted on the training rows of {first} (production)"
    # Falling short of production, it was judged against production's own retrain too, and fell short of that
    sibling = project.root / "registry/siblings" / first.replace(":", "-")
    assert decided["comparison"]["sibling"] == str(sibling.relative_to(project.root))
    assert (sibling / "recourse.json").is_file()
    assert {"champion", "challenger", "sibling"} <= set(figures)
    assert 0 <= decided["comparison"]["promises_kept"]["sibling_gate_set"] <= 1  # what luck alone breaks
    assert all(rule["against"] == "champion" for rule in decided["comparison"]["rules"] if not rule["passed"])
    # The sibling itself as a challenger: what it falls short of production by, luck alone, is judged
    # against production and its sibling averaged, which it is half as far from
    luck = project.run(
        "python",
        "-c",
        "import json; from genre.retraining.gate import compare; from genre.serving.bundle import load_bundle;"
        "from genre.serving.production import model_path; from genre.settings import load_settings;"
        f"s = load_settings('params.yaml'); twin = load_bundle({str(sibling)!r});"
        f"print(json.dumps(compare(s, load_bundle(model_path({first!r})), twin, None, None, {first!r}, lambda: twin)))",
    )
    assert luck.returncode == 0, luck.stderr[-2000:]
    judged = json.loads(luck.stdout.splitlines()[-1])
    scores = {name: figures["score"] for name, figures in judged["figures"].items()}
    if "sibling" in scores:  # asked for only where a rule failed against production
        assert scores["challenger"] == scores["sibling"]
    else:
        assert judged["passed"] and all(rule["against"] == "champion" for rule in judged["rules"])
    [score_rule] = [rule for rule in judged["rules"] if rule["name"].startswith("score not below")]
    averaged = score_rule["against"] == "expected"
    expected = (scores["champion"] + scores["sibling"]) / 2 if averaged else scores["champion"]
    assert abs(score_rule["limit"] - (expected - 0.02)) < 1e-9
    assert score_rule["passed"] == (score_rule["interval"][1] >= -0.02)
    assert (
        (project.root / "registry/decisions" / f"{record.stem}.md")
        .read_text()
        .startswith(f"# Decision {record.stem}: refused")
    )
    after = project.run(
        "genre", "recourse", "--input", str(tmp_path / "applicants.csv"), "--output", str(tmp_path / "after.csv")
    )
    assert after.returncode == 0 and (tmp_path / "after.csv").read_bytes() == (tmp_path / "before.csv").read_bytes()

    # The same artifacts packaged with the project's settings keep up with production: promoted.
    (project.root / "params.yaml").write_text(good)
    packaged = project.run("python", "-m", "flows.package")
    assert packaged.returncode == 0, packaged.stderr[-3000:]
    keeps_up = json.loads(Artifacts(project.root).metrics("package").read_text())["model_tag"]
    promoted = project.run("genre", "production", "promote", keeps_up, "--gate")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr[-2000:]
    assert not [line for line in promoted.stdout.splitlines() if line.startswith("FAIL")]
    current = json.loads(registry.read_text())["current"]
    assert (current["model"], current["by"], current["previous"]) == (keeps_up, "gate", first)
    assert current["reason"].startswith("passed the gate (record: ")
