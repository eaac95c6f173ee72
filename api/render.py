"""HTML pages: Jinja2 templates under ``api/templates`` with autoescape on for every template.

No text from the data becomes markup: every value reaches a template as a plain string and is
escaped there; links are built by :class:`Links`, which only ever returns a local path or an
``http(s)`` URL (an IRI such as ``javascript:...`` is shown as text, never as a link). Pages
carry no inline script: all JavaScript is in static files (a ``default-src 'self'`` CSP holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import pyoxigraph as ox
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from kg.config import ONTOLOGY_NS, Settings
from kg.describe import PREFIXES, Value, Vocabulary

__all__ = [
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "Links",
    "environment",
    "period_bound",
    "render",
    "templates_signature",
]

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"
#: Our own CSS, JS and icons (served at /static/).
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
_SAFE_PATH: Final = "/-._~!$&'()*+,;=:@%"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one template environment (made on first use, not at import)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def templates_signature() -> str:
    """A digest of the templates: part of a page's ETag, so new code is never answered 304."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Links:
    """Where an IRI leads on this server, and how to name it."""

    settings: Settings
    vocabulary: Vocabulary | None = None

    @property
    def data_base(self) -> str:
        return f"{self.settings.base_iri}id/"

    def href(self, iri: str | None) -> str | None:
        """A local path for our IRIs, the IRI itself for other http(s) IRIs, else None."""
        if not iri:
            return None
        if iri.startswith(self.data_base):
            return "/id/" + quote(iri[len(self.data_base) :], safe=_SAFE_PATH)
        if iri.startswith(ONTOLOGY_NS):
            return "/ontology#" + quote(iri[len(ONTOLOGY_NS) :], safe=_SAFE_PATH)
        if iri.rstrip("#/") == ONTOLOGY_NS.rstrip("#"):
            return "/ontology"
        parts = urlsplit(iri)
        if parts.scheme in {"http", "https"} and parts.netloc:
            return iri
        return None

    def is_local(self, iri: str | None) -> bool:
        href = self.href(iri)
        return href is not None and href.startswith("/")

    def short(self, iri: str) -> str:
        """``id:division/522731``, ``gq:County``, ``rdfs:label`` or the IRI itself."""
        if iri.startswith(self.data_base):
            return "id:" + iri[len(self.data_base) :]
        if iri.startswith(f"{self.settings.base_iri}graph/"):
            return "graph:" + iri[len(self.settings.base_iri) + len("graph/") :]
        best = ""
        for prefix, ns in PREFIXES.items():
            if iri.startswith(ns) and len(ns) > len(PREFIXES.get(best, "")):
                best = prefix
        return f"{best}:{iri[len(PREFIXES[best]) :]}" if best else iri

    def term_name(self, iri: str) -> str:
        """An ontology term's label (en, zh) or its short form."""
        info = self.vocabulary.label(iri) if self.vocabulary else None
        if info is not None and (info.en or info.zh):
            both = [x for x in (info.zh, info.en) if x]
            return " · ".join(both)
        return self.short(iri)

    def name(self, value: Value) -> str:
        """What a link to ``value`` says: its zh and en labels, a term's label, or short form."""
        term = value.term
        if isinstance(term, ox.Literal):
            return term.value
        if isinstance(term, ox.BlankNode):
            return f"_:{term.value}"
        labels = [x for x in (value.zh, value.en) if x]
        if labels:
            return " · ".join(dict.fromkeys(labels))
        if self.vocabulary and self.vocabulary.label(term.value):
            return self.term_name(term.value)
        return self.short(term.value)

    def literal_note(self, term: Any) -> str:
        """``@zh`` or ``xsd:date`` after a literal; empty for plain strings and non-literals."""
        if not isinstance(term, ox.Literal):
            return ""
        if term.language:
            return f"@{term.language}"
        datatype = term.datatype.value
        if datatype.endswith("#string"):
            return ""
        return self.short(datatype)


#: How many characters of an xsd:date a precision keeps: 2021, 2021-03, 2021-03-05.
_PRECISION_CHARS: Final = {
    ONTOLOGY_NS + "YearPrecision": 4,
    ONTOLOGY_NS + "MonthPrecision": 7,
    ONTOLOGY_NS + "DayPrecision": 10,
}


def period_bound(value: str | None, precision: str | None) -> str:
    """A period's start or end as precise as the source: ``2021``, not ``2021-01-01``."""
    if not value:
        return "?" if precision == ONTOLOGY_NS + "Unknown" else ""
    keep = _PRECISION_CHARS.get(precision or "")
    return value[:keep] if keep else value


def render(
    name: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``templates/<name>`` to a response (UTF-8 HTML)."""
    body = environment().get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers=dict(headers or {}))
