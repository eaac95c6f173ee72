"""The kg command: build, broken inputs, validate, export round trips, query formats, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from kg.build import current_build, publish, read_manifest
from kg.cli import main
from kg.config import project_root
from kg.export import FORMATS
from tests.support.servers import REPO_ROOT, free_port, oxigraph_server

Run = Callable[..., tuple[int, str, str]]

COUNTIES = """\
PREFIX gq: <https://w3id.org/gq-kg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?code ?name WHERE {
  ?county gq:partOf/gq:divisionCode "522700" ; gq:divisionCode ?code ; rdfs:label ?name .
  FILTER(LANG(?name) = "zh")
} ORDER BY ?code
"""


def copy_inputs(folder: Path) -> Path:
    """A private copy of data/ and ontology/ in ``folder``."""
    for part in ("data", "ontology"):
        shutil.copytree(project_root() / part, folder / part)
    return folder


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copied inputs and an empty var/, used by every command through KG_* variables."""
    copy_inputs(tmp_path)
    monkeypatch.setenv("KG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KG_ONTOLOGY_DIR", str(tmp_path / "ontology"))
    monkeypatch.setenv("KG_VAR_DIR", str(tmp_path / "var"))
    return tmp_path


@pytest.fixture
def kg(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def built(project: Path, kg: Run) -> Path:
    """A good build in the test's own var/ (for tests that change the inputs)."""
    code, _, err = kg("build")
    assert code == 0, err
    return project / "var"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One good build for the tests that only read it: pass ``--var-dir`` explicitly."""
    root = copy_inputs(tmp_path_factory.mktemp("shared"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KG_ONTOLOGY_DIR", str(root / "ontology"))
        code = main(["--data-dir", str(root / "data"), "--var-dir", str(root / "var"), "build"])
    assert code == 0
    return root / "var"


# --- build ------------------------------------------------------------------------------------


def test_build_then_unchanged(project: Path, kg: Run) -> None:
    code, out, err = kg("build")
    assert code == 0, err
    build_id, state, _ = out.split(" ", 2)
    assert state == "built"
    folder = current_build(project / "var")
    assert folder.name == build_id
    assert (folder / "store").is_dir()
    assert read_manifest(folder)["build_id"] == build_id
    assert "validated" in err  # progress goes to stderr

    code, out, _ = kg("build")
    assert code == 0
    assert out.startswith(f"{build_id} unchanged")


def test_global_options_override_settings_before_or_after_the_command(
    built: Path, tmp_path: Path, kg: Run
) -> None:
    other = tmp_path / "elsewhere"
    code, out, err = kg("build", "--var-dir", str(other), "--base-iri", "https://example.org/kg/")
    assert code == 0, err
    assert read_manifest(current_build(other))["base_iri"] == "https://example.org/kg/"
    code, out, _ = kg("--var-dir", str(other), "--base-iri", "https://example.org/kg/", "build")
    assert "unchanged" in out


def _append(path: Path, text: str) -> int:
    """Append ``text`` (one line) to ``path``; the 1-based line number it landed on."""
    content = path.read_text(encoding="utf-8")
    if not content.endswith("\n"):
        content += "\n"
    path.write_text(content + text + "\n", encoding="utf-8")
    return content.count("\n") + 1


PAIRING = "荔湾区,Liwan District,440103,惠水县,Huishui County,522731,district-county,2021-03"


def break_turtle(data: Path) -> tuple[str, str]:
    (data / "article" / "broken.ttl").write_text(
        "@prefix gq: <https://w3id.org/gq-kg/ontology#> .\n\ngq:a gq:b .\n", encoding="utf-8"
    )
    return "data/article/broken.ttl:3", "Turtle"


def break_csv_row(data: Path) -> tuple[str, str]:
    line = _append(data / "reference" / "pairings.csv", PAIRING)
    return f"data/reference/pairings.csv:{line}", "columns"


def break_reference(data: Path) -> tuple[str, str]:
    row = f"{PAIRING.replace('522731', '999999')},,,stated,stated,quote,https://example.org/,,,"
    line = _append(data / "reference" / "pairings.csv", row)
    return f"data/reference/pairings.csv:{line}", "unknown id 'division:999999'"


def break_claim_source(data: Path) -> tuple[str, str]:
    line = _append(data / "reference" / "pairings.csv", f"{PAIRING},,,stated,stated,quote,,,,")
    return f"data/reference/pairings.csv:{line}", "source_url"


def break_statistic_unit(data: Path) -> tuple[str, str]:
    (data / "article" / "no-unit.ttl").write_text(
        "@prefix gq: <https://w3id.org/gq-kg/ontology#> .\n"
        "<https://w3id.org/gq-kg/id/statistic/no-unit> a gq:Statistic ;\n"
        "  gq:value 12.0 ; gq:evidence gq:Stated .\n",
        encoding="utf-8",
    )
    # SHACL names the node and the missing property (it cannot know file lines).
    return "id:statistic/no-unit gq:unit", "SHACL validation failed"


@pytest.mark.parametrize(
    "breakage",
    [break_turtle, break_csv_row, break_reference, break_claim_source, break_statistic_unit],
)
def test_broken_input_fails_and_keeps_the_previous_build(
    built: Path, kg: Run, breakage: Callable[[Path], tuple[str, str]]
) -> None:
    before = current_build(built)
    where, what = breakage(built.parent / "data")

    code, out, err = kg("build")
    assert code != 0
    assert where in err
    assert what in err
    assert "Traceback" not in err
    assert out == ""
    # The previous build is still current, nothing half-built is left, and it still answers.
    assert current_build(built) == before
    assert sorted(p.name for p in (built / "builds").iterdir() if p.name != ".lock") == [
        before.name
    ]
    code, out, err = kg("query", "--format", "csv", "ASK { ?s ?p ?o }")
    assert (code, out.strip()) == (0, "true"), err


# --- validate ---------------------------------------------------------------------------------


def test_validate_exit_codes(project: Path, kg: Run) -> None:
    code, out, _ = kg("validate")
    assert code == 0
    assert "conforms" in out
    break_statistic_unit(project / "data")
    code, out, _ = kg("validate")
    assert code == 1
    assert "id:statistic/no-unit gq:unit" in out
    (project / "data" / "article" / "no-unit.ttl").unlink()
    break_csv_row(project / "data")
    code, out, err = kg("validate")
    assert code == 2
    assert "data/reference/pairings.csv:" in err


# --- export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_export_round_trips(shared: Path, tmp_path: Path, kg: Run, fmt: str) -> None:
    folder = current_build(shared)
    quads = list(ox.parse(path=str(folder / "dataset.nq"), format=ox.RdfFormat.N_QUADS))
    target = tmp_path / f"export.{fmt}"
    code, _, err = kg("--var-dir", str(shared), "export", "--format", fmt, "-o", str(target))
    assert code == 0, err
    parsed = list(ox.parse(path=str(target), format=FORMATS[fmt]))
    if FORMATS[fmt].supports_datasets:
        assert len(parsed) == len(quads) == read_manifest(folder)["triples"]
        assert set(parsed) == set(quads)
    else:  # the union of the graphs
        union = {q.triple for q in quads}
        assert len(parsed) == len(union)
        assert {q.triple for q in parsed} == union


def test_export_of_triple_formats_is_the_union_without_duplicates(tmp_path: Path, kg: Run) -> None:
    triple = '<urn:a> <urn:p> "x"@zh'
    nquads = "".join(
        f"{line} .\n"
        for line in sorted(
            [f"{triple} <urn:g1>", f"{triple} <urn:g2>", f"{triple}", "<urn:b> <urn:p> <urn:a>"]
        )
    ).encode()
    publish(tmp_path, nquads, base_iri="https://example.org/", log=lambda _: None)
    for fmt in ("turtle", "ntriples", "rdfxml"):
        code, out, err = kg("--var-dir", str(tmp_path), "export", "--format", fmt)
        assert code == 0, err
        assert len(list(ox.parse(out.encode(), format=FORMATS[fmt]))) == 2, fmt
    code, out, _ = kg("--var-dir", str(tmp_path), "export", "--format", "trig")
    assert len(list(ox.parse(out.encode(), format=ox.RdfFormat.TRIG))) == 4


def test_export_nquads_to_stdout_is_the_build_file(shared: Path, kg: Run) -> None:
    code, out, _ = kg("export", "--var-dir", str(shared), "--format", "nquads")
    assert code == 0
    assert out.encode("utf-8") == (current_build(shared) / "dataset.nq").read_bytes()


def test_export_without_a_build_is_a_one_line_error(project: Path, kg: Run) -> None:
    code, out, err = kg("export", "--format", "turtle")
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        f"kg: error: no current build in {project / 'var'}: run `kg build` first"
    ]


def test_serve_without_a_build_is_a_one_line_error(project: Path, kg: Run) -> None:
    # Checked before uvicorn starts: no traceback from a failed app start-up.
    code, out, err = kg("serve", "--port", str(free_port()))
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("kg: error: no on-disk store at ")
    assert "run `kg build`" in lines[0]


# --- query ------------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_query_table_is_aligned(shared: Path, kg: Run) -> None:
    code, out, err = kg("query", "--var-dir", str(shared), COUNTIES)
    assert code == 0, err
    header, rule, *rows = out.splitlines()
    assert header.split() == ["code", "name"]
    assert len(rows) == 12  # the twelve county-level divisions of 黔南州
    assert "522701  都匀市" in out
    # The second column starts at the same display column on every line, CJK included.
    starts = {_width(line[: line.index(line.split()[1])]) for line in [header, *rows]}
    assert len(starts) == 1
    assert set(rule.replace(" ", "")) == {"-"}
    assert err.strip() == "12 rows"


def test_query_csv_tsv_json(shared: Path, kg: Run) -> None:
    _, out, _ = kg("query", "--var-dir", str(shared), "--format", "csv", COUNTIES)
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["code", "name"]
    assert ["522701", "都匀市"] in table
    _, out, _ = kg("query", "--var-dir", str(shared), "--format", "tsv", COUNTIES)
    assert out.splitlines()[0] == "?code\t?name"
    _, out, _ = kg("query", "--var-dir", str(shared), "--format", "json", COUNTIES)
    body = json.loads(out)
    assert body["head"]["vars"] == ["code", "name"]
    assert len(body["results"]["bindings"]) == 12
    for fmt in ("table", "csv", "tsv"):
        _, out, _ = kg("query", "--var-dir", str(shared), "--format", fmt, "ASK { <urn:no> ?p ?o }")
        assert out == "false\n", fmt


def test_query_from_file_named_query_and_list(shared: Path, tmp_path: Path, kg: Run) -> None:
    path = tmp_path / "q.rq"
    path.write_text(COUNTIES, encoding="utf-8")
    _, out, _ = kg("--var-dir", str(shared), "query", "--format", "csv", "-f", str(path))
    assert len(out.strip().splitlines()) == 13

    code, out, err = kg(
        "--var-dir",
        str(shared),
        "query",
        "--format",
        "csv",
        "--name",
        "county-partners",
        "--param",
        "prefectureCode=522700",
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["code"] for row in rows} >= {"522701", "522702"}
    assert {row["status"] for row in rows} <= {
        "current-stated",
        "current-inferred-only",
        "ended",
        "unknown",
    }

    # iri parameters take the id: form kg prints, codes and names (it used to match nothing).
    helpers = set()
    for helper in ("id:division/440111", "440111", "白云区"):
        code, out, err = kg(
            "--var-dir", str(shared), "query", "--format", "csv",
            "--name", "pairings", "--param", f"helper={helper}",
        )  # fmt: skip
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows, helper
        helpers |= {row["helperLabel"] for row in rows}
    assert helpers == {"白云区"}

    code, out, _ = kg("query", "--list")
    assert code == 0
    assert "county-partners" in out
    assert "prefectureCode: string" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "SELECT * WHERE { ?s ?p }"], "kg: error:"),
        (["query", "--name", "nope"], "no named query 'nope'"),
        (["query", "--name", "entity"], "needs parameter 'entity'"),
        (["query", "--name", "entity", "--param", "entity=not an iri"], "no entity named"),
        (["query", "--name", "pairings", "--param", "helpr=440111"], "no parameter 'helpr'"),
        (["query", "--param", "a=b", "ASK {}"], "--param only goes with --name"),
        (["query", "--name", "entity", "--param", "entity"], "expected NAME=VALUE"),
    ],
)
def test_query_mistakes_are_one_line_errors(
    shared: Path, kg: Run, argv: list[str], message: str
) -> None:
    code, out, err = kg("--var-dir", str(shared), *argv)
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_stats(shared: Path, kg: Run) -> None:
    code, out, err = kg("--var-dir", str(shared), "stats", "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert list(stats) == [
        "entities_by_class",
        "claims_by_evidence",
        "triples_by_graph",
        "statistics_by_unit",
    ]
    graphs = {r["graph"]: r["triples"] for r in stats["triples_by_graph"]["rows"]}
    assert graphs == read_manifest(current_build(shared))["graphs"]
    code, out, _ = kg("--var-dir", str(shared), "stats")
    assert code == 0
    assert "gq:County" in out


def test_no_command_prints_help(kg: Run) -> None:
    code, _, err = kg()
    assert code == 2
    assert "build" in err


# --- remote endpoints and the server ----------------------------------------------------------


@pytest.mark.remote
def test_query_any_endpoint(shared: Path, kg: Run) -> None:
    """The same query, same answer, from a real `oxigraph serve` holding the build's dataset."""
    _, local, _ = kg("--var-dir", str(shared), "query", "--format", "csv", COUNTIES)
    with oxigraph_server(current_build(shared) / "dataset.nq") as url:
        code, remote, err = kg("query", "--endpoint", url, "--format", "csv", COUNTIES)
    assert code == 0, err
    assert remote.splitlines() == local.splitlines()
    assert len(local.splitlines()) == 13


def test_serve_answers_sparql(shared: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    command = [
        sys.executable,
        "-m",
        "kg.cli",
        "--var-dir",
        str(shared),
        "serve",
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}/sparql"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            try:
                answer = httpx.post(
                    url,
                    data={"query": "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"},
                    headers={"Accept": "text/csv"},
                    timeout=10,
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer.status_code == 200
    assert answer.text.split() == ["n", str(read_manifest(current_build(shared))["triples"])]
