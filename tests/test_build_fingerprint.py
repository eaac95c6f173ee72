"""The inputs' fingerprint: an unchanged `kg build` is answered without compiling, and any
change to what a build reads (data, ontology, settings, a missing store, a broken manifest)
builds again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kg.build import INPUTS_KEY, MANIFEST_FILE, STORE_DIR, current_build, publish, read_manifest
from kg.build import unchanged_build as found_unchanged
from kg.cli import main
from kg.config import Settings, project_root
from kg.fingerprint import build_inputs, default_project_root, library_version, quick_settings

BASE = "https://w3id.org/gq-kg/"
NQUADS = (
    b'<https://w3id.org/gq-kg/id/a> <https://w3id.org/gq-kg/ontology#p> "x" '
    b"<https://w3id.org/gq-kg/graph/article> .\n"
)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Small data/ and ontology/ folders (the fingerprint does not parse them)."""
    (tmp_path / "data" / "article").mkdir(parents=True)
    (tmp_path / "data" / "article" / "a.csv").write_text("id,name\nx,1\n", encoding="utf-8")
    (tmp_path / "ontology").mkdir()
    (tmp_path / "ontology" / "gq.ttl").write_text("# vocabulary\n", encoding="utf-8")
    return tmp_path


def fingerprint(root: Path, base_iri: str = BASE) -> str:
    return build_inputs(data_dir=root / "data", ontology_dir=root / "ontology", base_iri=base_iri)


def published(root: Path) -> Path:
    """A build of NQUADS in root/var, recorded as made from root's inputs."""
    var = root / "var"
    publish(var, NQUADS, base_iri=BASE, log=lambda _: None, inputs=fingerprint(root))
    return var


def test_same_inputs_same_fingerprint_whatever_the_file_times(inputs: Path) -> None:
    before = fingerprint(inputs)
    os.utime(inputs / "data" / "article" / "a.csv", (1, 1))  # touched, same content
    assert fingerprint(inputs) == before
    assert len(before) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "data" / "article" / "a.csv").write_text("id,name\nx,2\n"),
        lambda root: (root / "data" / "article" / "b.csv").write_text("id\n"),
        lambda root: (root / "data" / "article" / "a.csv").unlink(),
        lambda root: (root / "data" / "article" / "a.csv").rename(
            root / "data" / "article" / "c.csv"
        ),
        lambda root: (root / "ontology" / "gq.ttl").write_text("# vocabulary 2\n"),
        lambda root: (root / "ontology" / "shapes.ttl").write_text(""),
    ],
    ids=["modified", "added", "removed", "renamed", "ontology", "ontology-added"],
)
def test_a_changed_input_changes_the_fingerprint(inputs: Path, change: object) -> None:
    before = fingerprint(inputs)
    change(inputs)  # type: ignore[operator]
    assert fingerprint(inputs) != before


def test_settings_that_change_the_output_change_the_fingerprint(inputs: Path) -> None:
    before = fingerprint(inputs)
    assert fingerprint(inputs, "https://example.org/kg/") != before
    shutil.copytree(inputs / "data", inputs / "data2")
    moved = build_inputs(data_dir=inputs / "data2", ontology_dir=inputs / "ontology", base_iri=BASE)
    assert moved != before  # another folder: paths appear in the dataset (sources)


def test_unchanged_build_needs_same_inputs_and_a_store(inputs: Path) -> None:
    var = published(inputs)
    folder = current_build(var)
    assert read_manifest(folder)[INPUTS_KEY] == fingerprint(inputs)
    found = found_unchanged(var, fingerprint(inputs))
    assert found is not None
    assert found.unchanged
    assert found.build_id == folder.name
    assert found.triples == 1

    (inputs / "data" / "article" / "a.csv").write_text("id,name\nx,3\n")
    assert found_unchanged(var, fingerprint(inputs)) is None
    (inputs / "data" / "article" / "a.csv").write_text("id,name\nx,1\n")  # back as it was
    assert found_unchanged(var, fingerprint(inputs)) is not None
    assert found_unchanged(var, fingerprint(inputs, "https://example.org/kg/")) is None

    shutil.rmtree(folder / STORE_DIR)
    assert found_unchanged(var, fingerprint(inputs)) is None


@pytest.mark.parametrize("manifest", ["{not json", "[]", "", '{"inputs": "%s"}'])
def test_a_broken_manifest_is_never_unchanged(inputs: Path, manifest: str) -> None:
    var = published(inputs)
    folder = current_build(var)
    (folder / MANIFEST_FILE).write_text(manifest.replace("%s", fingerprint(inputs)))
    assert found_unchanged(var, fingerprint(inputs)) is None


def test_publish_records_the_inputs_of_an_unchanged_dataset(inputs: Path) -> None:
    var = published(inputs)
    folder = current_build(var)
    (inputs / "data" / "README").write_text("notes, not data\n")
    again = publish(var, NQUADS, base_iri=BASE, log=lambda _: None, inputs=fingerprint(inputs))
    assert again.unchanged
    assert again.path == folder
    assert read_manifest(folder)[INPUTS_KEY] == fingerprint(inputs)
    assert found_unchanged(var, fingerprint(inputs)) is not None


def test_publish_from_a_file_is_the_same_build_as_from_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in.nq"
    source.write_bytes(NQUADS)
    first = publish(tmp_path / "a", source, base_iri=BASE, log=lambda _: None)
    second = publish(tmp_path / "b", NQUADS, base_iri=BASE, log=lambda _: None)
    assert first.manifest["sha256"] == second.manifest["sha256"]
    assert first.manifest["graphs"] == {"https://w3id.org/gq-kg/graph/article": 1}
    assert (first.path / "dataset.nq").read_bytes() == NQUADS
    assert publish(tmp_path / "a", NQUADS, base_iri=BASE, log=lambda _: None).unchanged


def test_quick_settings_resolve_as_settings_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_project_root() == project_root()
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.upper().startswith("KG_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("KG_DATA_DIR", "d")
    monkeypatch.setenv("kg_base_iri", "https://example.org/x/")  # any case, as pydantic
    quick = quick_settings({"var_dir": tmp_path / "v", "data_dir": None}, os.environ, tmp_path)
    full = Settings(var_dir=tmp_path / "v")
    assert quick == {
        "base_iri": full.base_iri,
        "data_dir": full.data_dir,
        "ontology_dir": full.ontology_dir,
        "var_dir": full.var_dir,
    }
    assert quick["base_iri"] == "https://example.org/x/"
    assert quick["data_dir"] == Path("d")
    # What pydantic reads and this does not: a .env file; a name given twice.
    (tmp_path / ".env").write_text("KG_BASE_IRI=https://example.org/y/\n")
    assert quick_settings({}, {}, tmp_path) is None
    assert quick_settings({}, {"KG_DATA_DIR": "a", "kg_data_dir": "b"}, tmp_path / "v") is None


def test_library_versions_are_read_from_the_installed_distributions() -> None:
    from importlib import metadata

    for name in ("rdflib", "pyshacl", "pyoxigraph", "pydantic-settings"):
        assert library_version(name) == metadata.version(name)
    assert library_version("no-such-distribution-kg") == ""


# --- kg build, end to end ---------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for part in ("data", "ontology"):
        shutil.copytree(project_root() / part, tmp_path / part)
    monkeypatch.setenv("KG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KG_ONTOLOGY_DIR", str(tmp_path / "ontology"))
    monkeypatch.setenv("KG_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)  # no .env here
    return tmp_path


def test_kg_build_unchanged_skips_the_compiler_and_a_change_rebuilds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    out, err = capsys.readouterr()
    build_id = out.split()[0]
    assert "compiled" in err

    # Unchanged: answered from the fingerprint, in a process that never loads rdflib.
    probe = (
        "import sys\nfrom kg.cli import main\ncode = main(['build'])\n"
        "print(code, sorted(m for m in ('rdflib', 'pyshacl', 'pydantic', 'networkx') "
        "if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{project_root() / 'src'}{os.pathsep}{project_root()}"}
    run = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"{build_id} unchanged (")
    assert lines[1:] == ["0 []"]
    assert "same inputs" in run.stderr
    assert "compiled" not in run.stderr

    # A changed setting: compiled again (another base IRI: another dataset, a new build).
    assert main(["build", "--base-iri", "https://example.org/kg/"]) == 0
    out, err = capsys.readouterr()
    assert "compiled" in err
    assert "built" in out
    other_id = out.split()[0]

    # A new file under data/: compiled again; the same dataset keeps its build, which now
    # records the new inputs, so the next `kg build` is answered from the fingerprint.
    (project / "data" / "NOTES.txt").write_text("not read by the compiler\n", encoding="utf-8")
    assert main(["build", "--base-iri", "https://example.org/kg/"]) == 0
    out, err = capsys.readouterr()
    assert "compiled" in err
    assert out.startswith(f"{other_id} unchanged")
    assert main(["build", "--base-iri", "https://example.org/kg/"]) == 0
    out, err = capsys.readouterr()
    assert "compiled" not in err
    assert out.startswith(f"{other_id} unchanged")

    # The store deleted: built again.
    shutil.rmtree(current_build(project / "var") / STORE_DIR)
    assert main(["build", "--base-iri", "https://example.org/kg/"]) == 0
    out, err = capsys.readouterr()
    assert "compiled" in err
    assert " built " in out


def test_kg_build_with_a_corrupt_manifest_rebuilds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var = project / "var"
    publish(var, NQUADS, base_iri=BASE, log=lambda _: None)
    folder = current_build(var)
    manifest = read_manifest(folder)
    manifest[INPUTS_KEY] = build_inputs(
        data_dir=project / "data", ontology_dir=project / "ontology", base_iri=BASE
    )
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest)[:-5])  # cut short
    assert main(["build"]) == 0
    out, err = capsys.readouterr()
    assert "compiled" in err
    assert " built " in out
    assert current_build(var) != folder


def test_publish_counts_quads_per_graph_in_the_engine(tmp_path: Path) -> None:
    other = b"<https://w3id.org/gq-kg/graph/sources>"
    lines = [
        NQUADS,
        NQUADS.replace(b'"x"', b'"y"'),
        NQUADS.replace(b"<https://w3id.org/gq-kg/graph/article>", other),
        b'<https://w3id.org/gq-kg/id/b> <https://w3id.org/gq-kg/ontology#p> "z" .\n',
    ]
    result = publish(tmp_path, b"".join(sorted(lines)), base_iri=BASE, log=lambda _: None)
    assert result.manifest["graphs"] == {
        "default": 1,
        "https://w3id.org/gq-kg/graph/article": 2,
        "https://w3id.org/gq-kg/graph/sources": 1,
    }
    assert result.triples == 4


@pytest.mark.parametrize("argv", [["build", "--nope"], ["build", "extra"], ["--nope", "build"]])
def test_a_build_command_line_the_quick_path_cannot_read_is_a_usage_error(
    project: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "usage: kg" in capsys.readouterr().err
    assert not (project / "var").exists()  # nothing was built
