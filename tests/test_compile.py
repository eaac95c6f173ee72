"""kg.compile on the real data, and on broken copies of it (tests/data_cases/*.toml).

Each broken-input case copies data/ into a temporary folder, breaks one thing (replace the first
occurrence of ``find`` by ``replace``, ``append`` a row, or ``create`` a file) and asserts that
the DataError names the file, the line (that of ``find``, of the appended row, or ``line``) and
the problem.
"""

from __future__ import annotations

import csv
import shutil
import tomllib
from pathlib import Path

import pytest
from rdflib import Dataset, Literal, URIRef
from rdflib.namespace import RDF, RDFS, XSD
from rdflib.term import Node

from kg.compile import GRAPH_NAMES, compile_dataset, graph_iri
from kg.config import ONTOLOGY_NS, Settings, project_root
from kg.errors import DataError

SCHEMA = "https://schema.org/"
BASE = "http://kg.example.test/"  # not the default: nothing may hard-code the base
CASES = sorted((Path(__file__).parent / "data_cases").glob("*.toml"))


def gq(name: str) -> URIRef:
    return URIRef(ONTOLOGY_NS + name)


def ident(path: str) -> URIRef:
    return URIRef(BASE + "id/" + path)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return compile_dataset(Settings(base_iri=BASE))


def union(ds: Dataset) -> set[tuple[Node, Node, Node]]:
    return {(s, p, o) for s, p, o, _ in ds.quads((None, None, None, None))}


def test_every_graph_has_triples(dataset: Dataset) -> None:
    sizes = {name: len(dataset.graph(graph_iri(BASE, name))) for name in GRAPH_NAMES}
    assert all(size > 0 for size in sizes.values()), sizes
    assert not any("w3id.org/gq-kg/id/" in str(term) for t in union(dataset) for term in t)


def test_statistic_is_normalised(dataset: Dataset) -> None:
    article = dataset.graph(graph_iri(BASE, "article"))
    stat = ident("statistic/rural-labour-employed")
    assert article.value(stat, gq("value")) == Literal("34500", datatype=XSD.decimal)
    assert article.value(stat, gq("unit")) == gq("PersonUnit")
    assert article.value(stat, gq("originalText")) == Literal("3.45万人", lang="zh")
    assert article.value(stat, gq("statedIn")) == ident("document/gq2023/s/17-4")
    # The figure is stated; only its period is the curator's reading, said in gq:periodRule.
    assert article.value(stat, gq("evidence")) == gq("Stated")
    assert article.value(stat, gq("inferenceRule")) is None
    assert "今年以来" in str(article.value(stat, gq("periodRule")))
    money = ident("statistic/relocation-site-funds")
    assert article.value(money, gq("value")) == Literal("185000000", datatype=XSD.decimal)
    assert article.value(money, gq("unit")) == gq("CNY")


def test_counts_of_curated_facts(dataset: Dataset) -> None:
    article = dataset.graph(graph_iri(BASE, "article"))
    reference = dataset.graph(graph_iri(BASE, "reference"))
    assert len(set(article.subjects(RDF.type, gq("Statistic")))) == 45
    assert len(set(article.subjects(RDF.type, gq("Pairing")))) == 7
    # 14 rows, one pairing (荔湾区 → 惠水县) stated by two of them: 13 real-world pairings.
    assert len(set(reference.subjects(RDF.type, gq("Pairing")))) == 13
    assert len(set(reference.subjects(RDF.type, gq("Attestation")))) == 14
    # 长顺县, 贵定县, 龙里县, 都匀市 (2021+), 福泉市 (no period); 荔波县, 贵定县, 罗甸县, 长顺县,
    # 龙里县 (2016-2020); 南沙区's two unnamed counties (2016-2020).
    assert len(set(reference.subjects(RDF.type, gq("NoKnownPartner")))) == 11
    # The reference notes' reading of 黔南州10个县.
    assert len(set(reference.subjects(RDF.type, gq("GroupMembership")))) == 1
    assert len(set(article.subjects(RDF.type, gq("Photo")))) == 9
    assert len(set(article.subjects(RDF.type, gq("Issuance")))) == 3
    assert len(set(reference.subjects(gq("divisionCode"), None))) == 27


def test_claims_are_labelled_with_the_names_of_their_terms(dataset: Dataset) -> None:
    # A label is read by people (pages, search): the level is 区对县, not "ontology#…".
    reference = dataset.graph(graph_iri(BASE, "reference"))
    unknown = ident("unknown/522729-district-county")
    labels = set(reference.objects(unknown, RDFS.label))
    assert Literal("长顺县 结对方未知(区对县)", lang="zh") in labels
    for subject in union(dataset):
        if subject[1] == RDFS.label:
            assert "ontology#" not in str(subject[2]), subject


def test_each_round_of_a_pairing_reads_apart_in_both_languages(dataset: Dataset) -> None:
    # 黄埔区 → 独山县 in 2016-2020 and again from 2021: lists (entity pages, search) show both.
    reference = dataset.graph(graph_iri(BASE, "reference"))
    labels = {
        (str(label), getattr(label, "language", None))
        for slug in ("440112-522726-2016-2020", "440112-522726-2021")
        for label in reference.objects(ident(f"pairing/{slug}"), RDFS.label)
    }
    assert labels == {
        ("黄埔区—独山县 结对帮扶(2016–2020)", "zh"),
        ("黄埔区—独山县 结对帮扶(2021–)", "zh"),
        ("Huangpu District – Dushan County pairing (2016–2020)", "en"),
        ("Huangpu District – Dushan County pairing (2021–)", "en"),
    }


def test_every_pairing_unknown_and_figure_has_an_english_label(dataset: Dataset) -> None:
    # A query for English labels (FILTER(LANG(?l) = "en")) finds every pairing, unknown, figure.
    triples = union(dataset)
    kinds = {gq("Pairing"), gq("NoKnownPartner"), gq("Statistic")}
    claims = {s for s, p, o in triples if p == RDF.type and o in kinds}
    english: dict[Node, str] = {}
    for s, p, o in triples:
        label = o if p == RDFS.label and isinstance(o, Literal) else None
        if label is not None and label.language == "en":
            english[s] = str(label)
    assert len(claims) == 31 + 45
    assert claims <= english.keys(), sorted(str(c) for c in claims - english.keys())
    assert english[ident("pairing/gz-qn-schools")] == (
        "282 schools of Guangzhou – 328 schools of Qiannan pairing"
    )
    assert english[ident("unknown/522729-district-county")] == (
        "Changshun County: no known partner (district to county)"
    )
    assert english[ident("statistic/rural-labour-employed")] == (
        "rural workers of Qiannan helped into employment: 34500 person"
    )


def test_every_claim_cites_an_existing_sentence_that_holds_its_wording(dataset: Dataset) -> None:
    sources = dataset.graph(graph_iri(BASE, "sources"))
    triples = union(dataset)
    statements = {s for s, p, o in triples if p == RDF.type and o == RDF.Statement}
    cited = {(s, o) for s, p, o in triples if p == gq("statedIn") and s not in statements}
    # 45 statistics, 20 pairings (one cites two sentences: 21), 8 events, 3+1+3 other claims,
    # 11 explicit unknowns, 1 group membership; and 14 attestations of the reference pairings.
    assert len(cited) == 93 + 14
    for claim, sentence in cited:
        assert (sentence, RDF.type, gq("Sentence")) in sources, (claim, sentence)
        assert (
            claim,
            gq("source"),
            sources.value(sentence, URIRef("http://purl.org/dc/terms/isPartOf")),
        ) in triples
    for stat, text in ((s, o) for s, p, o in triples if p == gq("originalText")):
        sentence = next(o for s, p, o in triples if s == stat and p == gq("statedIn"))
        assert str(text) in str(sources.value(sentence, gq("text"))), stat


def test_divisions_and_reference_pairings(dataset: Dataset) -> None:
    reference = dataset.graph(graph_iri(BASE, "reference"))
    sources = dataset.graph(graph_iri(BASE, "sources"))
    assert (ident("division/522732"), RDF.type, gq("AutonomousCounty")) in reference
    assert (ident("division/522732"), RDF.type, gq("County")) not in reference
    assert (ident("division/522700"), RDF.type, gq("AutonomousPrefecture")) in reference
    assert (ident("division/522701"), RDF.type, gq("CountyLevelCity")) in reference
    assert (
        reference.value(
            ident("division/440117"), URIRef("http://www.w3.org/2003/01/geo/wgs84_pos#lat")
        )
        is None
    )
    assert reference.value(ident("division/440000"), gq("partOf")) == ident("country/cn")
    assert (ident("division/440103"), RDFS.label, Literal("Liwan District", lang="en")) in reference
    inferred = ident("pairing/440111-522722-2021")
    assert reference.value(inferred, gq("evidence")) == gq("Inferred")
    assert reference.value(inferred, gq("inferenceRule")) is not None
    page = reference.value(inferred, gq("source"))
    assert (page, RDF.type, gq("WebPage")) in sources
    assert str(sources.value(page, URIRef("https://schema.org/url"))).startswith(
        "https://www.gz.gov.cn/"
    )
    merged = ident("pairing/440103-522731-2021")
    # The most precise start of its two sources (2021-03 over 2021), as a date with precision.
    assert reference.value(merged, gq("periodStart")) == Literal("2021-03-01", datatype=XSD.date)
    assert reference.value(merged, gq("periodStartPrecision")) == gq("MonthPrecision")
    assert reference.value(merged, gq("periodEndPrecision")) == gq("Unknown")
    assert len(set(reference.objects(merged, gq("statedIn")))) == 2
    assert len(set(reference.objects(merged, gq("source")))) == 2
    texts = {
        str(reference.value(a, gq("periodText")))
        for a in reference.objects(merged, gq("attestedBy"))
    }
    assert texts == {"自2021年3月结对以来", "自2021年"}
    ended = ident("pairing/440115-522731-2017-2020")
    assert reference.value(ended, gq("periodEnd")) == Literal("2020-12-31", datatype=XSD.date)
    assert reference.value(ended, gq("periodEndPrecision")) == gq("YearPrecision")


def test_compiling_twice_gives_the_same_quads(dataset: Dataset) -> None:
    again = compile_dataset(Settings(base_iri=BASE))
    assert set(again.quads((None, None, None, None))) == set(
        dataset.quads((None, None, None, None))
    )


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_input_is_reported(case: Path, tmp_path: Path) -> None:
    spec = tomllib.loads(case.read_text(encoding="utf-8"))
    shutil.copytree(project_root() / "data", tmp_path / "data")
    target = tmp_path / spec["file"]
    if "create" in spec:
        target.write_text(spec["create"], encoding="utf-8")
        line = spec.get("line")
    elif "append" in spec:
        text = target.read_text(encoding="utf-8")
        line = text.count("\n") + 1
        target.write_text(text + spec["append"] + "\n", encoding="utf-8")
    else:
        text = target.read_text(encoding="utf-8")
        assert spec["find"] in text, f"{case.name}: 'find' is not in {spec['file']}"
        line = spec.get("line", text[: text.index(spec["find"])].count("\n") + 1)
        target.write_text(text.replace(spec["find"], spec["replace"], 1), encoding="utf-8")
    settings = Settings(base_iri=BASE, data_dir=tmp_path / "data")
    with pytest.raises(DataError) as caught:
        compile_dataset(settings)
    issues = caught.value.issues
    matching = [i for i in issues if i.file == spec["file"] and spec["problem"] in i.problem]
    assert matching, "\n".join(str(i) for i in issues)
    assert line is None or any(i.line == line for i in matching), "\n".join(map(str, matching))


def test_two_nodes_for_one_pairing_break_a_data_invariant(tmp_path: Path) -> None:
    # The same pairing a second time under another id: same parties, level and (open) period.
    shutil.copytree(project_root() / "data", tmp_path / "data")
    table = tmp_path / "data" / "article" / "pairings.csv"
    duplicate = (
        "pairing:gz-qn-schools-again,group:gz-282-schools,group:qn-328-schools,"
        "gq:SchoolToSchool,结对帮扶,,,gq2023:L13.1,广州282所学校结对帮扶黔南328所学校,stated,,\n"
    )
    table.write_text(table.read_text(encoding="utf-8") + duplicate, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        compile_dataset(Settings(base_iri=BASE, data_dir=tmp_path / "data"))
    (issue,) = caught.value.issues
    assert issue.file == "ontology/invariants/data/pairings-no-overlap.rq"
    assert "gz-qn-schools" in issue.problem
    assert "gz-qn-schools-again" in issue.problem


def test_a_found_partner_contradicts_an_explicit_unknown(tmp_path: Path) -> None:
    # A source now names a partner of 长顺县 in the 2021+ round: the gq:NoKnownPartner must go.
    shutil.copytree(project_root() / "data", tmp_path / "data")
    table = tmp_path / "data" / "reference" / "pairings.csv"
    found = (
        "海珠区,Haizhu District,440105,长顺县,Changshun County,522729,district-county,2022,,,"
        "inferred,inferred,长顺县,https://example.org/changshun,,a test row,\n"
    )
    table.write_text(table.read_text(encoding="utf-8") + found, encoding="utf-8")
    original = tmp_path / "data" / "reference" / "original" / "pairings.csv"
    gathered = (
        "海珠区,Haizhu District,440105,长顺县,Changshun County,522729,district-county,2022,,"
        "inferred,长顺县,https://example.org/changshun\n"
    )
    original.write_text(original.read_text(encoding="utf-8") + gathered, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        compile_dataset(Settings(base_iri=BASE, data_dir=tmp_path / "data"))
    (issue,) = caught.value.issues
    assert issue.file == "ontology/invariants/data/unknown-not-contradicted.rq"
    assert "522729-district-county" in issue.problem


def _original_rows() -> list[dict[str, str]]:
    path = project_root() / "data" / "reference" / "original" / "pairings.csv"
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_reference_tables_grade_is_kept_beside_kgs(dataset: Dataset) -> None:
    # data/reference/original/pairings.csv is the reference table as gathered. Each of its rows
    # is one attestation, which keeps the table's grade (gq:referenceEvidence) beside kg's own
    # (gq:evidence); the pairing carries the strongest of each.
    reference = dataset.graph(graph_iri(BASE, "reference"))
    sources = dataset.graph(graph_iri(BASE, "sources"))
    grades = {"stated": gq("Stated"), "inferred": gq("Inferred")}
    urls = {str(o): s for s, o in sources.subject_objects(URIRef(SCHEMA + "url"))}
    originals = _original_rows()
    assert len(originals) == 14
    regraded: list[tuple[str, str, str]] = []
    for row in originals:
        helper = ident(f"division/{row['helper_adcode']}")
        helped = ident(f"division/{row['helped_adcode']}")
        page = urls[row["source_url"]]
        (attestation,) = {
            a
            for p in reference.subjects(gq("helper"), helper)
            if reference.value(p, gq("recipient")) == helped
            for a in reference.objects(p, gq("attestedBy"))
            if reference.value(a, gq("source")) == page
        }
        assert reference.value(attestation, gq("referenceEvidence")) == grades[row["evidence"]]
        if reference.value(attestation, gq("evidence")) != grades[row["evidence"]]:
            regraded.append((row["helper_zh"], row["helped_zh"], row["period_start"]))
    # Every difference between the two tables' grades: kg regraded these eight (stated in the
    # table; their quotes do not give both parties and the period), and no other.
    assert sorted(regraded) == sorted(
        [
            ("白云区", "罗甸县", "2021"),
            ("白云区", "平塘县", "2016"),
            ("黄埔区", "独山县", "2021"),
            ("黄埔区", "三都水族自治县", "2021"),
            ("黄埔区", "独山县", "2016"),
            ("黄埔区", "三都水族自治县", "2016"),
            ("黄埔区", "都匀市", "2016"),
            ("南沙区", "惠水县", "2017"),
        ]
    )
    nansha = ident("pairing/440115-522731-2017-2020")
    assert reference.value(nansha, gq("evidence")) == gq("Inferred")
    assert reference.value(nansha, gq("referenceEvidence")) == gq("Stated")
    liwan = ident("pairing/440103-522731-2021")  # two rows, both stated in both tables
    assert reference.value(liwan, gq("referenceEvidence")) == gq("Stated")


def test_nansha_had_two_more_partners_whose_identity_is_unknown(dataset: Dataset) -> None:
    # refnotes L3.1: "the 2016–2020 partners of two more counties paired with 南沙区 are unknown".
    reference = dataset.graph(graph_iri(BASE, "reference"))
    unknown = ident("unknown/440115-district-county-2016-2020")
    assert reference.value(unknown, RDF.type) == gq("NoKnownPartner")
    assert reference.value(unknown, gq("party")) == ident("division/440115")
    assert reference.value(unknown, gq("unknownPartnerCount")) == Literal(2, datatype=XSD.integer)
    assert reference.value(unknown, gq("evidence")) == gq("Stated")
    assert reference.value(unknown, gq("statedIn")) == ident("document/refnotes/s/3-1")
    assert reference.value(unknown, gq("periodStart")) == Literal("2016-01-01", datatype=XSD.date)
    assert reference.value(unknown, gq("periodEnd")) == Literal("2020-12-31", datatype=XSD.date)
    labels = {str(label) for label in reference.objects(unknown, RDFS.label)}
    assert labels == {
        "南沙区 另有2个结对方未知(区对县)",
        "Nansha District: 2 more partners not known (district to county)",
    }


def test_the_ten_counties_are_members_by_inference_only(dataset: Dataset) -> None:
    # The article names none of 黔南州10个县; the reference notes (L4.1) read them as the ten
    # 县/自治县, "an inference from the count": one gq:GroupMembership, inferred, never a plain
    # gq:hasMember (which would read as stated).
    union_triples = union(dataset)
    group = ident("group/qn-ten-counties")
    assert not [t for t in union_triples if t[0] == group and t[1] == gq("hasMember")]
    reference = dataset.graph(graph_iri(BASE, "reference"))
    (claim,) = set(reference.subjects(gq("group"), group))
    assert reference.value(claim, gq("evidence")) == gq("Inferred")
    assert "inference from the count" in str(reference.value(claim, gq("inferenceRule")))
    assert reference.value(claim, gq("statedIn")) == ident("document/refnotes/s/4-1")
    codes = sorted(str(m).rsplit("/", 1)[1] for m in reference.objects(claim, gq("member")))
    counties = [
        r["adcode"]
        for r in csv.DictReader(
            (project_root() / "data" / "reference" / "divisions.csv").open(encoding="utf-8")
        )
        if r["parent_zh"] == "黔南布依族苗族自治州" and r["level"] == "county"
    ]
    assert codes == sorted(counties)
    assert len(codes) == 10
    assert "522701" not in codes  # 都匀市
    assert "522702" not in codes  # 福泉市


def test_group_members_must_fit_the_groups_count_and_class(tmp_path: Path) -> None:
    # An eleventh member of 黔南州10个县, and one that is a county-level city, not a county.
    shutil.copytree(project_root() / "data", tmp_path / "data")
    table = tmp_path / "data" / "reference" / "group-memberships.csv"
    text = table.read_text(encoding="utf-8")
    table.write_text(text.replace("division:522732,", "division:522732|division:522701,"))
    with pytest.raises(DataError) as caught:
        compile_dataset(Settings(base_iri=BASE, data_dir=tmp_path / "data"))
    issues = caught.value.issues
    assert {i.file for i in issues} == {"ontology/invariants/data/group-members-fit.rq"}
    problems = sorted(i.problem for i in issues)
    assert any("member=" + BASE + "id/division/522701" in p for p in problems), problems
    assert any("members=11" in p and "count=10" in p for p in problems), problems
