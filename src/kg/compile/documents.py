"""The sources graph: source documents (``data/sources/sources.csv``), their sentences, and
the web pages cited by the reference tables (each quote a sentence of its page)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDF, RDFS, XSD

from kg.compile.context import Context
from kg.compile.tables import Row, TableSpec, read_table, split_multi
from kg.compile.values import parse_period
from kg.compile.vocab import GQ, SCHEMA
from kg.errors import DataIssue
from kg.sources import Sentence, document_iri, sentence_triples, split_text

__all__ = ["SOURCES_SPEC", "SourceDocuments", "WebPages", "read_sources", "shown_path", "web_slug"]

SOURCES_SPEC = TableSpec(
    "sources.csv",
    required=("slug", "file", "class"),
    optional=(
        "title_zh",
        "title_en",
        "publisher",
        "author",
        "editor",
        "reviewer",
        "supervisor",
        "issued",
        "language",
        "url",
        "note",
    ),
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass
class SourceDocuments:
    """The rows of sources.csv with their split sentences."""

    rows: list[tuple[Row, URIRef, list[Sentence]]] = field(default_factory=list)

    def emit(self, ctx: Context, graph: Graph, data_dir: Path) -> None:
        """Describe every source document and its sentences in ``graph``."""
        for row, doc, sentences in self.rows:
            classes = ctx.classes_of(row, "class")
            for cls in classes:
                graph.add((doc, RDF.type, cls))
            if row.get("title_zh"):
                graph.add((doc, DCTERMS.title, Literal(row.get("title_zh"), lang="zh")))
                graph.add((doc, RDFS.label, Literal(row.get("title_zh"), lang="zh")))
            if row.get("title_en"):
                graph.add((doc, DCTERMS.title, Literal(row.get("title_en"), lang="en")))
                graph.add((doc, RDFS.label, Literal(row.get("title_en"), lang="en")))
            for column, prop in (
                ("publisher", DCTERMS.publisher),
                ("author", DCTERMS.creator),
                ("editor", GQ.editor),
                ("reviewer", GQ.reviewer),
                ("supervisor", GQ.supervisor),
            ):
                for agent in ctx.refs(row, column):
                    graph.add((doc, prop, agent))
            if row.get("issued"):
                try:
                    issued, precision = parse_period(row.get("issued"))
                    graph.add((doc, DCTERMS.issued, issued))
                    graph.add((doc, GQ.datePrecision, precision))
                except ValueError as exc:
                    ctx.problem(row, f"issued: {exc}")
            for lang in split_multi(row.get("language")):
                graph.add((doc, DCTERMS.language, Literal(lang, datatype=XSD.language)))
            if row.get("url"):
                graph.add((doc, SCHEMA.url, URIRef(row.get("url"))))
            file = (data_dir / "sources" / row.get("file")).relative_to(data_dir.parent)
            graph.add((doc, GQ.sourceFile, Literal(file.as_posix())))
            for triple in sentence_triples(ctx.base_iri, doc_slug(doc), sentences):
                graph.add(triple)


def doc_slug(doc: URIRef) -> str:
    return str(doc).rsplit("/", 1)[-1]


def read_sources(ctx: Context, data_dir: Path) -> SourceDocuments:
    """Read sources.csv, split each listed file into sentences and register them."""
    table = data_dir / "sources" / "sources.csv"
    shown = shown_path(table, data_dir)
    found = SourceDocuments()
    if not table.is_file():
        ctx.issues.append(DataIssue(shown, None, "missing: every source document is listed here"))
        return found
    for row in read_table(table, shown, SOURCES_SPEC, ctx.issues):
        slug = row.get("slug")
        if not _SLUG.match(slug):
            ctx.problem(row, f"slug: {slug!r} must be lowercase letters, digits and -")
            continue
        if slug in ctx.documents:
            ctx.problem(row, f"duplicate document slug {slug!r}")
            continue
        path = data_dir / "sources" / row.get("file")
        if not path.is_file():
            ctx.problem(row, f"file: {shown_path(path, data_dir)} does not exist")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            ctx.problem(row, f"file: {shown_path(path, data_dir)} is not UTF-8 ({exc.reason})")
            continue
        sentences = split_text(text)
        doc = document_iri(ctx.base_iri, slug)
        ctx.documents[slug] = doc
        ctx.declared[f"document:{slug}"] = (row.file, row.line)
        for s in sentences:
            ctx.register_sentence(slug, s.line, s.position, s.text)
        found.rows.append((row, doc, sentences))
    return found


# A day in a page's path (/2022-12-08/, /20231103/, t20230905_): news and government sites
# publish under the day of publication.
_URL_DAY = re.compile(r"(?<![0-9])(20[0-9]{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12][0-9]|3[01])(?![0-9])")


def url_day(url: str) -> str | None:
    """The publication day a page's URL path carries (YYYY-MM-DD), if any."""
    match = _URL_DAY.search(urlsplit(url).path)
    return "-".join(match.groups()) if match else None


@dataclass
class WebPages:
    """Web pages cited by reference rows: one document per URL, one sentence per quote."""

    pages: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: URL → the page's date as the curator recorded it (YYYY, YYYY-MM or YYYY-MM-DD).
    dates: dict[str, str] = field(default_factory=dict)

    def date(self, ctx: Context, row: Row, url: str, text: str) -> None:
        """Record the date of the page at ``url``; one page has one date."""
        if not text:
            return
        try:
            parse_period(text)
        except ValueError as exc:
            ctx.problem(row, f"source_date: {exc}")
            return
        day = url_day(url)
        if day is not None and not day.startswith(text):
            ctx.problem(row, f"source_date: {text} but the page's URL dates it {day}")
            return
        if self.dates.setdefault(url, text) != text:
            ctx.problem(
                row, f"source_date: {text} but another row dates this page {self.dates[url]}"
            )

    def cite(self, ctx: Context, url: str, quote: str) -> tuple[URIRef, URIRef]:
        """Register ``quote`` as a sentence of the page at ``url``; (sentence, page) IRIs."""
        if url not in self.pages:
            slug = web_slug(url)
            self.pages[url] = (slug, [])
            ctx.documents[slug] = document_iri(ctx.base_iri, slug)
        slug, quotes = self.pages[url]
        if quote not in quotes:
            quotes.append(quote)
        line = quotes.index(quote) + 1
        return ctx.register_sentence(slug, line, 1, quote), ctx.documents[slug]

    def emit(self, ctx: Context, graph: Graph) -> None:
        """Describe each page (gq:WebPage, schema:url) and its quoted sentences."""
        for url, (slug, quotes) in self.pages.items():
            page = ctx.documents[slug]
            graph.add((page, RDF.type, GQ.WebPage))
            graph.add((page, SCHEMA.url, URIRef(url)))
            if url in self.dates:
                issued, precision = parse_period(self.dates[url])
                graph.add((page, DCTERMS.issued, issued))
                graph.add((page, GQ.datePrecision, precision))
            host = urlsplit(url).hostname or url
            graph.add((page, RDFS.label, Literal(f"Web page at {host}", lang="en")))
            sentences = [Sentence(i, 1, q) for i, q in enumerate(quotes, start=1)]
            for triple in sentence_triples(ctx.base_iri, slug, sentences):
                graph.add(triple)


def web_slug(url: str) -> str:
    """A stable, readable slug for a URL: ``web-<host>-<8 hex of its sha256>``."""
    host = (urlsplit(url).hostname or "page").removeprefix("www.")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    return "web-" + re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") + "-" + digest


def shown_path(path: Path, data_dir: Path) -> str:
    """A path as reported to the user: relative to the data folder's parent."""
    try:
        return path.relative_to(data_dir.parent).as_posix()
    except ValueError:
        return path.as_posix()
