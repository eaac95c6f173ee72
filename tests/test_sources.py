"""The sentence splitter and sentence IRIs of kg.sources."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDF, XSD

from kg.config import ONTOLOGY_NS, project_root
from kg.sources import (
    Sentence,
    document_iri,
    sentence_iri,
    sentence_triples,
    split_line,
    split_text,
)

GQ_SENTENCE = URIRef(ONTOLOGY_NS + "Sentence")
ARTICLE = project_root() / "data" / "sources" / "guangzhou-qiannan-2023.txt"


def test_splits_after_each_full_width_stop() -> None:
    assert split_line("高层互访,深度协作。6月19日,率团赴广州！真的吗？好") == [
        "高层互访,深度协作。",
        "6月19日,率团赴广州！",
        "真的吗？",
        "好",
    ]


def test_closing_quote_stays_with_its_sentence() -> None:
    assert split_line("“我住珠江头,君住珠江尾。”广州与黔南,共同谱写了“山海协作曲”。") == [
        "“我住珠江头,君住珠江尾。”",
        "广州与黔南,共同谱写了“山海协作曲”。",
    ]


def test_caption_without_stop_is_one_sentence() -> None:
    caption = "粤黔协作惠水食品科技产业园 冯小东 摄"
    assert split_line(caption) == [caption]


def test_blank_and_whitespace_lines_hold_no_sentence() -> None:
    assert split_line("   ") == []
    assert split_text("甲。\n\n乙。丙。\n") == [
        Sentence(1, 1, "甲。"),
        Sentence(3, 1, "乙。"),
        Sentence(3, 2, "丙。"),
    ]


def test_article_positions_are_stable() -> None:
    sentences = split_text(ARTICLE.read_text(encoding="utf-8"))
    by_position = {(s.line, s.position): s.text for s in sentences}
    assert len(sentences) == 71
    assert by_position[(9, 2)] == "黄颂凯 摄"
    assert by_position[(17, 4)].startswith("广州帮助黔南农村劳动力实现就业3.45万人")
    assert by_position[(37, 2)] == "图为培训班学员参观广州慧谷动力科技有限公司。"
    assert by_position[(43, 1)] == "监审:周德扬 刘衡"
    assert (44, 1) not in by_position
    assert split_text(ARTICLE.read_text(encoding="utf-8")) == sentences


def test_iris_follow_the_base() -> None:
    assert document_iri("http://x.test/", "gq2023") == URIRef("http://x.test/id/document/gq2023")
    assert sentence_iri("http://x.test/", "gq2023", 13, 2) == URIRef(
        "http://x.test/id/document/gq2023/s/13-2"
    )


def test_sentence_triples() -> None:
    graph = Graph()
    for triple in sentence_triples("http://x.test/", "doc", [Sentence(4, 2, "乙。")]):
        graph.add(triple)
    node = URIRef("http://x.test/id/document/doc/s/4-2")
    gq = ONTOLOGY_NS
    assert (node, RDF.type, GQ_SENTENCE) in graph
    assert (node, URIRef(gq + "text"), Literal("乙。")) in graph
    assert (node, URIRef(gq + "line"), Literal(4, datatype=XSD.integer)) in graph
    assert (node, URIRef(gq + "position"), Literal(2, datatype=XSD.integer)) in graph
    assert (node, DCTERMS.isPartOf, URIRef("http://x.test/id/document/doc")) in graph
    assert len(graph) == 5
