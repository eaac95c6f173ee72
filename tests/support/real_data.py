"""The project's own data, built for a test session (compile, validate, publish)."""

from __future__ import annotations

from pathlib import Path

from kg.build import build
from kg.config import Settings

__all__ = ["build_real_data"]


def build_real_data(var_dir: Path) -> Path:
    """Build data/ and ontology/ into ``var_dir``; the build folder (dataset.nq, store/)."""
    return build(Settings(var_dir=var_dir), log=lambda _: None).path
