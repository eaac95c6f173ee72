"""A deterministic synthetic pairing network at national scale, in the kg vocabulary.

Eight eastern provinces help ten western ones. Eastern prefectures help western ones
(gq:CityToPrefecture); each helper prefecture's urban districts pair with counties
(gq:DistrictToCounty), most with one to three, a few *hub* districts (~4 %) with six to twelve;
under each district–county pair schools, hospitals, towns, villages and enterprises pair up too,
with long tails: the number of villages (and of schools) per pair is Pareto-distributed, so a
few pairs carry hundreds of villages and most a dozen. Pairings run over several rounds
(2016–2020 poverty alleviation, 2021– rural revitalisation): ``gq:periodStart`` /
``gq:periodEnd`` as ``xsd:date`` with their precision and the source wording; about a third
end with the first round and some districts take a new partner in the second; a claim may be
stated in several sentences of several documents; a few counties carry an explicit
``gq:NoKnownPartner``. Every county carries statistics for several years. Every claim is stated
in a sentence of a synthetic news article, with evidence grade and source, as the real build
models it. Quads go to the named graphs the real build uses (ontology, sources, article,
reference). Output is streamed line by line (memory stays bounded whatever the size).

The generator emits district after district until the target quad count is reached, so
``--triples`` scales the network (10k … 10M), and ``--seed`` makes runs comparable. Next to the
N-Quads file it writes ``meta.json`` (counts, the district IRIs the runner varies over).

    python -m bench.generate --triples 1000000 --out var/bench/data/dataset.nq
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kg.config import ONTOLOGY_NS

__all__ = ["DEFAULT_BASE", "GeneratedDataset", "generate", "main"]

DEFAULT_BASE = "https://w3id.org/gq-kg/"

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCT = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"

#: Provinces that help (east) and provinces that are helped (west): (code prefix, zh, en).
EAST = [
    ("11", "北京市", "Beijing"),
    ("12", "天津市", "Tianjin"),
    ("31", "上海市", "Shanghai"),
    ("32", "江苏省", "Jiangsu"),
    ("33", "浙江省", "Zhejiang"),
    ("35", "福建省", "Fujian"),
    ("37", "山东省", "Shandong"),
    ("44", "广东省", "Guangdong"),
]
WEST = [
    ("15", "内蒙古自治区", "Inner Mongolia"),
    ("45", "广西壮族自治区", "Guangxi"),
    ("50", "重庆市", "Chongqing"),
    ("51", "四川省", "Sichuan"),
    ("52", "贵州省", "Guizhou"),
    ("53", "云南省", "Yunnan"),
    ("54", "西藏自治区", "Tibet"),
    ("61", "陕西省", "Shaanxi"),
    ("62", "甘肃省", "Gansu"),
    ("63", "青海省", "Qinghai"),
    ("64", "宁夏回族自治区", "Ningxia"),
    ("65", "新疆维吾尔自治区", "Xinjiang"),
]

#: Syllables for place names: (hanzi, pinyin).
SYLLABLES = [
    ("安", "an"),
    ("白", "bai"),
    ("宝", "bao"),
    ("长", "chang"),
    ("城", "cheng"),
    ("大", "da"),
    ("德", "de"),
    ("东", "dong"),
    ("丰", "feng"),
    ("福", "fu"),
    ("海", "hai"),
    ("和", "he"),
    ("河", "he"),
    ("华", "hua"),
    ("惠", "hui"),
    ("江", "jiang"),
    ("金", "jin"),
    ("康", "kang"),
    ("兰", "lan"),
    ("乐", "le"),
    ("龙", "long"),
    ("罗", "luo"),
    ("茂", "mao"),
    ("明", "ming"),
    ("南", "nan"),
    ("宁", "ning"),
    ("平", "ping"),
    ("清", "qing"),
    ("荣", "rong"),
    ("山", "shan"),
    ("水", "shui"),
    ("泰", "tai"),
    ("天", "tian"),
    ("望", "wang"),
    ("西", "xi"),
    ("兴", "xing"),
    ("阳", "yang"),
    ("永", "yong"),
    ("云", "yun"),
    ("中", "zhong"),
]

#: Statistic measures: (slug, zh label, en label, unit term, min, max, how the source writes it).
MEASURES = [
    ("visits", "调研对接人次", "study-and-liaison visits", "PersonTime", 200, 40000, "万人次"),
    ("funds", "财政帮扶资金", "assistance funds", "CNY", 10_000_000, 900_000_000, "亿元"),
    ("jobs", "劳务输出人数", "workers placed in jobs", "PersonUnit", 500, 60000, "万人"),
    ("firms", "落地企业数", "enterprises settled", "EnterpriseUnit", 2, 80, "家"),
]

GRAPHS = ("ontology", "sources", "article", "reference")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


def _lit(text: str, lang: str | None = None, datatype: str | None = None) -> str:
    if lang is not None:
        return f'"{_escape(text)}"@{lang}'
    if datatype is not None:
        return f'"{_escape(text)}"^^<{datatype}>'
    return f'"{_escape(text)}"'


def _int(value: int) -> str:
    return _lit(str(value), datatype=XSD + "integer")


@dataclass
class GeneratedDataset:
    """What a generation produced: where, how big, and what the runner needs to vary over."""

    path: Path
    triples: int
    seed: int
    base_iri: str
    districts: list[str] = field(default_factory=list)
    #: IRIs of paired counties and GB/T 2260 codes of recipient prefectures (for parameters).
    counties: list[str] = field(default_factory=list)
    prefectures: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    pairings_by_level: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "triples": self.triples,
            "seed": self.seed,
            "base_iri": self.base_iri,
            "classes": self.classes,
            "pairings_by_level": self.pairings_by_level,
            "districts": self.districts,
            "counties": self.counties,
            "prefectures": self.prefectures,
        }


class _Writer:
    """Writes quads and counts them; knows the IRI scheme of the real build."""

    def __init__(self, out: TextIO, base: str) -> None:
        self.out = out
        self.base = base
        self.count = 0
        self.classes: Counter[str] = Counter()
        self.levels: Counter[str] = Counter()
        self.graphs = {g: f"<{base}graph/{g}>" for g in GRAPHS}

    def quad(self, s: str, p: str, o: str, graph: str) -> None:
        self.out.write(f"{s} {p} {o} {self.graphs[graph]} .\n")
        self.count += 1

    def typed(self, s: str, cls: str, graph: str) -> None:
        self.quad(s, f"<{RDF_TYPE}>", gq(cls), graph)
        self.classes[cls] += 1

    def iri(self, path: str) -> str:
        return f"<{self.base}{path}>"


def gq(local: str) -> str:
    return f"<{ONTOLOGY_NS}{local}>"


def _label(w: _Writer, s: str, zh: str, en: str, graph: str) -> None:
    w.quad(s, f"<{RDFS}label>", _lit(zh, "zh"), graph)
    w.quad(s, f"<{RDFS}label>", _lit(en, "en"), graph)


class _Names:
    """Seeded two-syllable place names with their pinyin."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> tuple[str, str]:
        (a, pa), (b, pb) = self.rng.sample(SYLLABLES, 2)
        return a + b, (pa + pb).capitalize()


@dataclass
class _Doc:
    iri: str
    lines: int = 0


def _ontology(w: _Writer) -> None:
    """A sliver of the ontology graph, so that queries touching it see realistic data."""
    classes = [
        "Province", "Prefecture", "AutonomousPrefecture", "UrbanDistrict", "County",
        "AutonomousCounty", "CountyLevelCity", "Town", "Township", "Village", "School",
        "Hospital", "Enterprise", "Pairing", "Statistic", "Sentence", "NewsArticle", "Measure",
        "NoKnownPartner",
    ]  # fmt: skip
    for cls in classes:
        w.quad(gq(cls), f"<{RDF_TYPE}>", f"<{OWL}Class>", "ontology")
        w.quad(gq(cls), f"<{RDFS}label>", _lit(cls, "en"), "ontology")
    levels = [
        "CityToPrefecture", "DistrictToCounty", "SchoolToSchool", "HospitalToHospital",
        "TownToTownship", "VillageToVillage", "EnterpriseToVillage",
    ]  # fmt: skip
    for level in levels:
        w.quad(gq(level), f"<{RDF_TYPE}>", gq("PairingLevel"), "ontology")
        w.quad(gq(level), f"<{RDFS}label>", _lit(level, "en"), "ontology")
    for grade in ("Stated", "Inferred"):
        w.quad(gq(grade), f"<{RDF_TYPE}>", gq("EvidenceGrade"), "ontology")
    for precision in ("YearPrecision", "MonthPrecision", "DayPrecision"):
        w.quad(gq(precision), f"<{RDF_TYPE}>", gq("DatePrecision"), "ontology")


class _Network:
    """Emits the network unit by unit."""

    def __init__(self, w: _Writer, rng: random.Random) -> None:
        self.w = w
        self.rng = rng
        self.name = _Names(rng)
        self.provinces: set[str] = set()
        self.measures_done = False
        #: The follow-up report of the current prefecture pair (second round), if any.
        self.later: _Doc | None = None
        self.counties: list[str] = []
        self.prefectures: list[str] = []

    # --- claims -------------------------------------------------------------------------

    def sentence(self, doc: _Doc, text: str) -> str:
        w = self.w
        doc.lines += 1
        s = doc.iri[:-1] + f"/s/{doc.lines}-1>"
        w.typed(s, "Sentence", "sources")
        w.quad(s, gq("text"), _lit(text, "zh"), "sources")
        w.quad(s, gq("line"), _int(doc.lines), "sources")
        w.quad(s, gq("position"), _int(1), "sources")
        w.quad(s, f"<{DCT}isPartOf>", doc.iri, "sources")
        return s

    def provenance(
        self, claim: str, doc: _Doc, text: str, graph: str, *, graded: bool = True
    ) -> None:
        w = self.w
        w.quad(claim, gq("statedIn"), self.sentence(doc, text), graph)
        w.quad(claim, gq("source"), doc.iri, graph)
        if not graded:
            return
        if self.rng.random() < 0.1:
            w.quad(claim, gq("evidence"), gq("Inferred"), graph)
            w.quad(claim, gq("inferenceRule"), _lit("同一报道列出双方协作成果", "zh"), graph)
        else:
            w.quad(claim, gq("evidence"), gq("Stated"), graph)

    def pairing(
        self,
        level: str,
        key: str,
        helper: tuple[str, str],
        recipient: tuple[str, str],
        doc: _Doc,
        *,
        graph: str = "article",
        relation: str = "结对帮扶",
        first_round: bool = True,
    ) -> None:
        """One gq:Pairing; ``helper``/``recipient`` are (IRI, zh name)."""
        w = self.w
        p = w.iri(f"id/pairing/{key}")
        w.typed(p, "Pairing", graph)
        w.levels[level] += 1
        w.quad(p, gq("helper"), helper[0], graph)
        w.quad(p, gq("recipient"), recipient[0], graph)
        w.quad(p, gq("level"), gq(level), graph)
        rng = self.rng
        start = rng.choice((2016, 2016, 2016, 2017, 2018)) if first_round else 2021
        w.quad(p, gq("periodStart"), _lit(f"{start}-01-01", datatype=XSD + "date"), graph)
        w.quad(p, gq("periodStartPrecision"), gq("YearPrecision"), graph)
        ended = first_round and rng.random() < 0.35
        if ended:
            w.quad(p, gq("periodEnd"), _lit("2020-12-31", datatype=XSD + "date"), graph)
            w.quad(p, gq("periodEndPrecision"), gq("YearPrecision"), graph)
        wording = f"{start}年至2020年" if ended else f"{start}年以来"
        w.quad(p, gq("periodText"), _lit(wording, "zh"), graph)
        w.quad(p, gq("relationText"), _lit(relation, "zh"), graph)
        self.provenance(p, doc, f"{wording},{helper[1]}与{recipient[1]}{relation}。", graph)
        # Some claims are repeated by a later report: a second sentence, a second source.
        if self.later is not None and doc is not self.later and rng.random() < 0.15:
            again = f"{helper[1]}继续与{recipient[1]}{relation}。"
            self.provenance(p, self.later, again, graph, graded=False)

    # --- places and organisations -------------------------------------------------------

    def division(
        self, code: str, cls: str, zh: str, en: str, parent: str | None, *, graph: str = "reference"
    ) -> str:
        w = self.w
        s = w.iri(f"id/division/{code}")
        w.typed(s, cls, graph)
        _label(w, s, zh, en, graph)
        w.quad(s, gq("divisionCode"), _lit(code), graph)
        if parent is not None:
            w.quad(s, gq("partOf"), parent, graph)
        return s

    def place(self, code: str, cls: str, suffix_zh: str, suffix_en: str, parent: str) -> str:
        zh, py = self.name()
        s = self.division(code, cls, zh + suffix_zh, f"{py} {suffix_en}", parent, graph="article")
        self.w.quad(s, gq("pinyin"), _lit(py.lower()), "article")
        return s

    def org(self, kind: str, cls: str, key: str, names: tuple[str, str], place: str) -> str:
        zh, en = names
        w = self.w
        s = w.iri(f"id/{kind}/{key}")
        w.typed(s, cls, "article")
        _label(w, s, zh, en, "article")
        w.quad(s, gq("locatedIn"), place, "article")
        return s

    def province(self, prefix: str, zh: str, en: str) -> str:
        code = prefix + "0000"
        iri = self.w.iri(f"id/division/{code}")
        if code not in self.provinces:
            self.provinces.add(code)
            self.division(code, "Province", zh, en, None)
        return iri

    def measures(self) -> None:
        w = self.w
        for slug, zh, en, *_ in MEASURES:
            m = w.iri(f"id/measure/{slug}")
            w.typed(m, "Measure", "article")
            _label(w, m, zh, en, "article")

    def statistic(self, county: tuple[str, str, str], doc: _Doc) -> None:
        w, rng = self.w, self.rng
        iri, code, zh = county
        slug, mzh, _en, unit, lo, hi, wording = rng.choice(MEASURES)
        year = rng.randint(2018, 2023)
        s = w.iri(f"id/statistic/{code}-{slug}-{year}-{doc.lines + 1}")
        value = rng.randint(lo, hi)
        if wording == "亿元":
            original = f"{value / 1e8:.2f}亿元"
        elif wording.startswith("万"):
            original = f"{value / 1e4:.2f}{wording}"
        else:
            original = f"{value}{wording}"
        w.typed(s, "Statistic", "article")
        w.quad(s, gq("measure"), w.iri(f"id/measure/{slug}"), "article")
        w.quad(s, gq("value"), _lit(str(value), datatype=XSD + "decimal"), "article")
        w.quad(s, gq("unit"), gq(unit), "article")
        w.quad(s, gq("periodStart"), _lit(f"{year}-01-01", datatype=XSD + "date"), "article")
        w.quad(s, gq("periodEnd"), _lit(f"{year}-12-31", datatype=XSD + "date"), "article")
        w.quad(s, gq("subject"), iri, "article")
        w.quad(s, gq("originalText"), _lit(original, "zh"), "article")
        self.provenance(s, doc, f"{year}年,{zh}{mzh}{original}。", "article")

    # --- units ----------------------------------------------------------------------------

    def district_unit(
        self,
        district: tuple[str, str, str],
        county: tuple[str, str, str],
        doc: _Doc,
        *,
        slot: int = 0,
        first_round: bool = True,
    ) -> None:
        """Everything that pairs up below one district–county pair (``slot``: which of the
        district's partners this is, so that its towns get their own codes)."""
        rng = self.rng
        d_iri, d_code, d_zh = district
        c_iri, c_code, c_zh = county
        self.pairing(
            "DistrictToCounty", f"dc-{d_code}-{c_code}", (d_iri, d_zh), (c_iri, c_zh), doc,
            graph="reference", first_round=first_round,
        )  # fmt: skip
        schools = min(60, int(2 * rng.paretovariate(1.5)))
        for level, kind, cls, n, zh_suffix, en_suffix in (
            ("SchoolToSchool", "school", "School", schools, "中学", "Middle School"),
            ("HospitalToHospital", "hospital", "Hospital", rng.randint(1, 3), "人民医院",
             "People's Hospital"),
        ):  # fmt: skip
            for i in range(1, n + 1):
                a_zh, b_zh = f"{d_zh}第{i}{zh_suffix}", f"{c_zh}第{i}{zh_suffix}"
                a = self.org(kind, cls, f"{d_code}-{c_code}-{i}", (a_zh, f"{en_suffix} {i}"), d_iri)
                b = self.org(kind, cls, f"{c_code}-{d_code}-{i}", (b_zh, f"{en_suffix} {i}"), c_iri)
                self.pairing(level, f"{kind}-{d_code}-{c_code}-{i}", (a, a_zh), (b, b_zh), doc)
        # Towns of the district pair with townships of the county; villages likewise.
        d_towns, c_towns = [], []
        for i in range(1, 4):
            t_code = f"{d_code}{10 * slot + i:03d}"
            s_code = f"{c_code}{i:03d}"
            d_towns.append((self.place(t_code, "Town", "镇", "Town", d_iri), t_code))
            c_towns.append((self.place(s_code, "Township", "乡", "Township", c_iri), s_code))
            self.pairing(
                "TownToTownship", f"tt-{t_code}-{s_code}", (d_towns[-1][0], "镇"),
                (c_towns[-1][0], "乡"), doc,
            )  # fmt: skip
        # The long tail: most pairs name a dozen villages, a few several hundred.
        n_villages = min(900, max(6, int(6 * rng.paretovariate(1.6))))
        villages = []
        for i in range(1, n_villages + 1):
            town, town_code = c_towns[i % 3]
            v_code = f"{town_code}{i:03d}"
            villages.append((self.place(v_code, "Village", "村", "Village", town), v_code))
        for i in range(1, n_villages // 2 + 1):
            town, town_code = d_towns[i % 3]
            v_code = f"{town_code}{i:03d}"
            v = self.place(v_code, "Village", "村", "Village", town)
            target, t_code = villages[i - 1]
            self.pairing(
                "VillageToVillage", f"vv-{v_code}-{t_code}", (v, "村"), (target, "村"), doc
            )
        for i in range(1, 4):
            e_zh = f"{d_zh}{self.name()[0]}实业有限公司"
            e = self.org(
                "enterprise", "Enterprise", f"{d_code}-{c_code}-{i}", (e_zh, f"Firm {i}"), d_iri
            )
            for v, v_code in rng.sample(villages[n_villages // 2 :], 2 if i < 3 else 1):
                self.pairing(
                    "EnterpriseToVillage", f"ev-{d_code}-{c_code}-{i}-{v_code}", (e, e_zh),
                    (v, "村"), doc, relation="村企结对",
                )  # fmt: skip
        for _ in range(rng.randint(3, 8)):
            self.statistic(county, doc)

    def prefecture_pair(self, index: int, target: int, districts: list[str]) -> bool:
        """Helper prefecture ``index`` and its partner; ``False`` once the target is reached."""
        w, rng = self.w, self.rng
        if not self.measures_done:
            self.measures()
            self.measures_done = True
        e_prefix, e_zh, e_en = EAST[index % len(EAST)]
        r_prefix, r_zh, r_en = WEST[index % len(WEST)]
        e_num, r_num = index // len(EAST) + 1, index // len(WEST) + 1
        if e_num > 99 or r_num > 99:
            raise SystemExit("bench.generate: --triples too large: division code space exhausted")
        e_code, r_code = f"{e_prefix}{e_num:02d}00", f"{r_prefix}{r_num:02d}00"
        e_prov, r_prov = self.province(e_prefix, e_zh, e_en), self.province(r_prefix, r_zh, r_en)
        hzh, hpy = self.name()
        rzh, rpy = self.name()
        helper = self.division(e_code, "Prefecture", hzh + "市", hpy, e_prov)
        r_cls = "AutonomousPrefecture" if index % 3 == 0 else "Prefecture"
        recipient = self.division(r_code, r_cls, rzh + "州", f"{rpy} Prefecture", r_prov)
        self.prefectures.append(r_code)

        doc = _Doc(w.iri(f"id/document/bench-{e_code}-{r_code}"))
        w.typed(doc.iri, "NewsArticle", "sources")
        w.quad(
            doc.iri, f"<{DCT}title>", _lit(f"{hzh}市与{rzh}州东西部协作工作综述", "zh"), "sources"
        )
        issued = f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        w.quad(doc.iri, f"<{DCT}issued>", _lit(issued, datatype=XSD + "date"), "sources")
        w.quad(doc.iri, gq("sourceFile"), _lit(f"bench/{e_code}-{r_code}.md"), "sources")
        self.pairing(
            "CityToPrefecture", f"cp-{e_code}-{r_code}", (helper, hzh + "市"),
            (recipient, rzh + "州"), doc, graph="reference", relation="对口帮扶",
        )  # fmt: skip

        # The second round's report: restates some claims, names the new partners.
        self.later = _Doc(w.iri(f"id/document/bench-{e_code}-{r_code}-2021"))
        w.typed(self.later.iri, "NewsArticle", "sources")
        w.quad(self.later.iri, f"<{DCT}title>", _lit(f"{hzh}市乡村振兴协作报道", "zh"), "sources")
        w.quad(
            self.later.iri, f"<{DCT}issued>", _lit("2022-06-30", datatype=XSD + "date"), "sources"
        )

        county_no = 20
        counties: list[tuple[str, str, str]] = []
        for j in range(1, rng.randint(4, 12) + 1):
            d_code = f"{e_code[:4]}{j:02d}"
            dzh, dpy = self.name()
            d_iri = self.division(d_code, "UrbanDistrict", dzh + "区", f"{dpy} District", helper)
            districts.append(d_iri[1:-1])
            hub = rng.random() < 0.04
            partners = rng.randint(6, 12) if hub else rng.choice((1, 2, 2, 2, 3))
            for slot in range(partners):
                if county_no >= 99:
                    break
                county_no += 1
                c_code = f"{r_code[:4]}{county_no:02d}"
                c_cls = rng.choice(("County", "County", "AutonomousCounty", "CountyLevelCity"))
                czh, cpy = self.name()
                c_iri = self.division(c_code, c_cls, czh + "县", f"{cpy} County", recipient)
                counties.append((c_iri, c_code, czh + "县"))
                self.counties.append(c_iri[1:-1])
                self.district_unit((d_iri, d_code, dzh + "区"), counties[-1], doc, slot=slot)
            # Second round: now and then a district takes on a county paired before elsewhere.
            if len(counties) > partners and rng.random() < 0.2:
                c_iri, c_code, c_zh = rng.choice(counties[:-partners])
                self.pairing(
                    "DistrictToCounty", f"dc-{d_code}-{c_code}", (d_iri, dzh + "区"),
                    (c_iri, c_zh), self.later, graph="reference", first_round=False,
                )  # fmt: skip
            if w.count >= target:
                return False
        if county_no < 99 and rng.random() < 0.5:
            self.no_known_partner(recipient, r_code, county_no + 1, doc)
        return True

    def no_known_partner(self, prefecture: str, r_code: str, number: int, doc: _Doc) -> None:
        """A county no source names a partner for, said explicitly (gq:NoKnownPartner)."""
        w = self.w
        c_code = f"{r_code[:4]}{number:02d}"
        czh, cpy = self.name()
        county = self.division(c_code, "County", czh + "县", f"{cpy} County", prefecture)
        claim = w.iri(f"id/claim/no-partner-{c_code}-district")
        w.typed(claim, "NoKnownPartner", "reference")
        w.quad(claim, gq("party"), county, "reference")
        w.quad(claim, gq("level"), gq("DistrictToCounty"), "reference")
        self.provenance(claim, doc, f"报道未提及{czh}县的结对城区。", "reference")


def generate(
    path: Path, triples: int = 1_000_000, seed: int = 42, base: str = DEFAULT_BASE
) -> GeneratedDataset:
    """Write about ``triples`` quads (stopping after the district that reaches it) to ``path``."""
    if triples < 1000:
        raise SystemExit("bench.generate: --triples must be at least 1000")
    if not base.endswith("/"):
        raise SystemExit(f"bench.generate: --base must end with '/': {base!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    districts: list[str] = []
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        w = _Writer(out, base)
        _ontology(w)
        net = _Network(w, rng)
        index = 0
        while net.prefecture_pair(index, triples, districts):
            index += 1
    tmp.replace(path)
    result = GeneratedDataset(
        path=path,
        triples=w.count,
        seed=seed,
        base_iri=base,
        districts=districts,
        counties=net.counties,
        prefectures=net.prefectures,
        classes=dict(sorted(w.classes.items())),
        pairings_by_level=dict(sorted(w.levels.items())),
    )
    meta = path.with_name("meta.json")
    meta.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def load_meta(path: Path) -> GeneratedDataset | None:
    """The dataset at ``path`` as recorded in its ``meta.json``, if both exist."""
    meta = path.with_name("meta.json")
    if not (path.exists() and meta.exists()):
        return None
    raw = json.loads(meta.read_text(encoding="utf-8"))
    return GeneratedDataset(
        path=path,
        triples=int(raw["triples"]),
        seed=int(raw["seed"]),
        base_iri=str(raw["base_iri"]),
        districts=list(raw["districts"]),
        counties=list(raw.get("counties", [])),
        prefectures=list(raw.get("prefectures", [])),
        classes=dict(raw["classes"]),
        pairings_by_level=dict(raw["pairings_by_level"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    parser.add_argument("--triples", type=int, default=1_000_000, help="target quad count")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--base", default=DEFAULT_BASE, help="base IRI of data IRIs")
    parser.add_argument("--out", type=Path, default=None, help="N-Quads file to write")
    args = parser.parse_args(argv)
    out = args.out or Path("var/bench") / f"data-{args.triples}-s{args.seed}" / "dataset.nq"
    result = generate(out, args.triples, args.seed, args.base)
    print(
        f"{result.path}: {result.triples} quads, {len(result.districts)} districts, "
        f"{sum(result.pairings_by_level.values())} pairings",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
