"""api.urls: the endpoint's URL as Starlette would build it, without rebuilding it per request."""

from __future__ import annotations

from api.urls import endpoint_url, public_base
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from kg.config import Settings

_HOSTS = st.one_of(
    st.none(),
    st.sampled_from([b"example.org", b"127.0.0.1:8000", b"[::1]:8080", b"h:80", b"h:notaport",
                     b"", b"xn--fiq228c.example", b"a b"]),
    st.binary(max_size=12),
)  # fmt: skip
_PATHS = st.sampled_from(["/sparql", "/sparql/", "/kg/sparql", "/sp?ar#ql\\"])


@settings(max_examples=400, deadline=None)
@given(
    _HOSTS,
    st.sampled_from(["http", "https"]),
    st.sampled_from([None, ("127.0.0.1", 8000), ("::1", 443), ("h", 80)]),
    st.sampled_from(["", "/kg", "/kg/"]),
    _PATHS,
)
def test_urls_match_starlettes(host, scheme, server, root, path) -> None:  # type: ignore[no-untyped-def]
    headers = [(b"host", host)] if host is not None else []
    scope = {"type": "http", "scheme": scheme, "server": server, "path": path,
             "root_path": root, "query_string": b"query=ASK%7B%7D", "headers": headers}  # fmt: skip
    request = Request(scope)
    plain = Settings()
    assert public_base(request, plain) == str(request.base_url)
    expected = str(request.base_url) + request.url.path.lstrip("/")
    assert endpoint_url(request, plain) == expected
    fixed = Settings(public_url="https://kg.example.org/api")
    assert public_base(request, fixed) == "https://kg.example.org/api/"
