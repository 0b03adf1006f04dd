"""Saving a torch module with the constructor arguments needed to rebuild it.

Loading with ``weights_only=True`` means an artifact can never execute code when it is read, which
matters once bentos are copied between machines.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from genre.artifacts.atomic import write_with

M = TypeVar("M", bound=nn.Module)


def save_payload(payload: dict[str, Any], path: Path) -> None:
    """Serialised in memory first: ``torch.save`` to a file embeds the (random) temporary file name,
    which would give identical weights a different hash and make DVC rerun downstream stages."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_with(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def load_payload(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def save_module(module: nn.Module, config: dict[str, Any], path: Path) -> None:
    save_payload({"kind": type(module).__name__, "config": config, "state": module.state_dict()}, path)


def load_module(cls: type[M], path: Path) -> M:
    return module_from(cls, load_payload(path))


def module_from(cls: type[M], payload: dict[str, Any]) -> M:
    """The module a ``save_module`` payload describes, in eval mode."""
    module = cls(**payload["config"])
    module.load_state_dict(payload["state"])
    module.eval()
    return module


def saved_kind(path: Path) -> str:
    """The class name a module file was saved from (files from before kinds were recorded: CVAE)."""
    return str(load_payload(path).get("kind", "CVAE"))
