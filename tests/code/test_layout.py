"""The shape of the code, checked: DVC reruns a stage whenever code it runs changes, the layers
import one way, and the product never reaches into the research benchmark.

Imports are read from the source (``ImportGraph`` in ``tests/conftest.py``), so a module imported
lazily, inside a function, counts like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
SECTIONS = (
    "ingest",
    "train_classifier",
    "synthesize_pairs",
    "train_generator",
    "recourse",
    "evaluate",
    "wachter",
    "dice",
    "serve",
    "package",
    "schedule",
    "drift",
    "gate",
    "retrain",
    "runner",
)
# What each layer of genre may import besides itself (genre/__init__.py says why).
MAY_IMPORT = {
    "messages": set(),
    "processes": set(),
    "strict_yaml": {"messages"},
    "settings": {"messages", "strict_yaml"},
    "config_reference": {"messages", "strict_yaml", "settings"},
    "offline": set(),
    "who": set(),
    "parallel": {"settings"},
    "artifacts": set(),
    "data": {"messages", "strict_yaml", "settings", "artifacts"},
    "models": {"messages", "strict_yaml", "settings", "artifacts", "data"},
    "recourse": {"parallel", "messages", "strict_yaml", "settings", "artifacts", "data", "models"},
    "evaluation": {"parallel", "messages", "strict_yaml", "settings", "artifacts", "data", "models", "recourse"},
    "serving": {
        "parallel",
        "messages",
        "strict_yaml",
        "processes",
        "settings",
        "offline",
        "who",
        "artifacts",
        "data",
        "models",
        "recourse",
    },
    "stages": {
        "parallel",
        "messages",
        "strict_yaml",
        "settings",
        "offline",
        "who",
        "artifacts",
        "data",
        "models",
        "recourse",
        "evaluation",
        "serving",
    },
    "cli": {
        "parallel",
        "messages",
        "strict_yaml",
        "processes",
        "settings",
        "config_reference",
        "offline",
        "who",
        "artifacts",
        "data",
        "models",
        "recourse",
        "evaluation",
        "serving",
        "stages",
        "retraining",
    },
    "retraining": {
        "parallel",
        "messages",
        "strict_yaml",
        "processes",
        "settings",
        "offline",
        "who",
        "artifacts",
        "data",
        "models",
        "recourse",
        "evaluation",
        "serving",
        "stages",
    },
}


def stage_code(graph, stage: str) -> set[str]:
    """Every project module a stage's command runs: its flow's imports, and for the package stage
    also the bentofile's service, which the build imports."""
    roots = {f"flows.{stage}"}
    if stage == "package":
        roots.add(graph.service_module)
    return graph.closure(roots)


def sections_read(graph, names: set[str]) -> set[str]:
    """Settings sections read as ``settings.<section>`` (or ``<x>.settings.<section>``)."""
    read = set()
    for name in names:
        for node in ast.walk(graph.tree(name)):
            if isinstance(node, ast.Attribute) and node.attr in SECTIONS:
                owner = node.value
                if (isinstance(owner, ast.Name) and owner.id == "settings") or (
                    isinstance(owner, ast.Attribute) and owner.attr == "settings"
                ):
                    read.add(node.attr)
    return read


def covered(file: str, deps: list[str]) -> bool:
    return any(file == dep or Path(dep) in Path(file).parents for dep in deps)


def test_package_inits_hold_only_a_docstring(import_graph) -> None:
    """So that a stage's deps need not list them: they run, but do nothing."""
    for name, path in import_graph.modules.items():
        if path.name == "__init__.py":
            body = import_graph.tree(name).body
            assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), path


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_deps_cover_every_module_it_runs(import_graph, stage: str) -> None:
    deps = STAGES[stage]["deps"]
    runs = import_graph.files(stage_code(import_graph, stage))
    missing = sorted(f for f in runs if not f.endswith("__init__.py") and not covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} runs these modules but does not list them in deps: {missing}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_params_are_the_sections_its_code_reads(import_graph, stage: str) -> None:
    assert set(STAGES[stage].get("params", [])) == sections_read(import_graph, stage_code(import_graph, stage))


def test_the_check_sees_lazy_imports_and_tells_files_apart(import_graph) -> None:
    """The generator kinds are imported inside a function; the check must still see them."""
    assert {"genre.models.cvae", "genre.models.transformer"} <= import_graph.imports("genre.models.generators")
    assert covered("genre/data/schema.py", ["genre/data"])
    assert not covered("genre/recourse/cost.py", ["genre/recourse/pairs.py", "genre/data", "genre/recourse/cost"])


def test_layers_import_one_way(import_graph) -> None:
    wrong = []
    for name in import_graph.modules:
        if name.startswith("genre."):
            layer = name.split(".")[1]
            allowed = MAY_IMPORT[layer] | {layer}
            wrong += [
                f"{name} -> {m}"
                for m in import_graph.imports(name)
                if m.startswith("genre.") and m.split(".")[1] not in allowed
            ]
    assert not wrong, f"imports against the layering of genre/__init__.py: {wrong}"


def test_stages_never_import_each_other(import_graph) -> None:
    for name in import_graph.modules:
        if name.startswith("genre.stages."):
            assert not [m for m in import_graph.imports(name) if m.startswith("genre.stages.")], name


def test_the_product_never_imports_the_research_benchmark(import_graph) -> None:
    for name in import_graph.modules:
        if not name.startswith("research"):
            assert not [m for m in import_graph.imports(name) if m.startswith("research")], name
