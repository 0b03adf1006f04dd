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


def save_module(module: nn.Module, config: dict[str, Any], path: Path) -> None:
    """Serialised in memory first: ``torch.save`` to a file embeds the (random) temporary file name,
    which would give identical weights a different hash and make DVC rerun downstream stages."""
    buffer = io.BytesIO()
    torch.save({"kind": type(module).__name__, "config": config, "state": module.state_dict()}, buffer)
    write_with(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def load_module(cls: type[M], path: Path) -> M:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    module = cls(**payload["config"])
    module.load_state_dict(payload["state"])
    module.eval()
    return module


def saved_kind(path: Path) -> str:
    """The class name a module file was saved from (files from before kinds were recorded: CVAE)."""
    return str(torch.load(path, map_location="cpu", weights_only=True).get("kind", "CVAE"))
