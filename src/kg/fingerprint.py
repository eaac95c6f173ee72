"""The fingerprint of a build's inputs: what `kg build` checks before compiling anything.

A build is a function of the files under ``data/`` and ``ontology/``, the base IRI, kg's own
code and the versions of the libraries that compile, validate and serialise the data. Their
digest goes into the build's manifest (``inputs``); when the next ``kg build`` computes the
same digest and the current build's store is there, nothing needs compiling: the build is
reported ``unchanged`` in a few milliseconds, without importing rdflib, pyshacl or pydantic.

Anything in doubt is a rebuild: every file under the two folders counts (not only the ones
the compiler reads), every ``.py`` file of the kg package counts, and a missing or unreadable
manifest, a missing store or a fingerprint of another version never matches. When a rebuild
yields the same dataset, :func:`kg.build.publish` still reuses the current build (by the
dataset's digest) and records the new fingerprint.

Standard library only: this module is on the fast path of `kg build`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from kg import __version__

__all__ = [
    "FINGERPRINT_VERSION",
    "LIBRARIES",
    "build_inputs",
    "default_project_root",
    "library_version",
    "quick_settings",
]

#: Bumped when what the fingerprint covers changes: older manifests then never match.
FINGERPRINT_VERSION = "1"
#: The distributions whose versions change a build's output.
LIBRARIES = ("rdflib", "pyshacl", "pyoxigraph")
#: The settings a build depends on (the rest only change how a build is served).
BUILD_SETTINGS = ("base_iri", "data_dir", "ontology_dir")
_PACKAGE = Path(__file__).resolve().parent


def default_project_root() -> Path:
    """The folder holding ``ontology/`` and ``data/``: :func:`kg.config.project_root`."""
    return _PACKAGE.parents[1]


def build_inputs(*, data_dir: Path, ontology_dir: Path, base_iri: str) -> str:
    """The hex digest of everything a build reads (see the module docstring)."""
    digest = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)

    add("kg-build-inputs", FINGERPRINT_VERSION, __version__, base_iri)
    for name in LIBRARIES:
        add(name, library_version(name))
    for label, root in (("data", data_dir), ("ontology", ontology_dir), ("code", _PACKAGE)):
        folder = Path(root).resolve()
        add(label, str(folder))
        for relative, path in _files(folder, code=label == "code"):
            add(relative, hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def library_version(name: str) -> str:
    """The installed version of distribution ``name``, from its ``.dist-info`` folder name
    (importlib.metadata gives the same but takes ~50 ms to import); "" when not found."""
    wanted = name.replace("-", "_").lower()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for found in names:
            if found.endswith(".dist-info"):
                dist, _, version = found.removesuffix(".dist-info").rpartition("-")
                if dist.replace("-", "_").lower() == wanted:
                    return version
    from importlib import metadata  # noqa: PLC0415  (egg-info and other layouts)

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def _files(folder: Path, *, code: bool) -> Iterator[tuple[str, Path]]:
    """Every regular file under ``folder`` (only ``.py`` files for kg's code), sorted."""
    found: list[tuple[str, Path]] = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        for name in names:
            if code and not name.endswith(".py"):
                continue
            path = Path(directory, name)
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    return iter(sorted(found))


def quick_settings(
    overrides: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> dict[str, str | Path] | None:
    """``var_dir`` and the build settings as :class:`kg.config.Settings` would resolve them,
    without pydantic; None when that cannot be done simply (a ``.env`` file, a setting given
    twice in the environment in different cases). ``overrides`` are the command line's.
    """
    if (cwd / ".env").exists():
        return None
    env: dict[str, str] = {}
    for key, value in environ.items():
        upper = key.upper()
        if upper.startswith("KG_"):
            if upper in env:
                return None
            env[upper] = value
    root = default_project_root()
    defaults: dict[str, str | Path] = {
        "base_iri": "https://w3id.org/gq-kg/",
        "data_dir": root / "data",
        "ontology_dir": root / "ontology",
        "var_dir": root / "var",
    }
    resolved: dict[str, str | Path] = {}
    for name, default in defaults.items():
        given = overrides.get(name)
        if given is None:
            given = env.get(f"KG_{name.upper()}")
        if given is None:
            resolved[name] = default
        elif isinstance(default, Path):
            resolved[name] = Path(str(given))
        else:
            resolved[name] = str(given)
    return resolved
