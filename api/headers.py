"""Security headers on every response: ``nosniff`` always, a restrictive CSP on HTML.

The policy (``HTML_POLICY``) allows only the server's own scripts, styles, images, fonts,
frames and fetches: no inline script, no inline style attributes' scripts, no remote origin.
A route whose page needs more (a generated map with its own inline script) sets its own
``Content-Security-Policy`` header on its response; this middleware then leaves it alone.
See docs/endpoint.md, "Security headers".
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HTML_POLICY", "SecurityHeaders", "security_headers"]

_HTML: Final = frozenset({b"text/html", b"application/xhtml+xml"})

HTML_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)


def security_headers(headers: MutableHeaders) -> None:
    """Add nosniff, and the CSP on an HTML answer that does not bring its own."""
    headers["X-Content-Type-Options"] = "nosniff"
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type.encode() in _HTML and ("content-security-policy" not in headers):
        headers["Content-Security-Policy"] = HTML_POLICY


_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
_CSP: Final = (b"content-security-policy", HTML_POLICY.encode())


class SecurityHeaders:
    """ASGI middleware applying :func:`security_headers` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw header list, not MutableHeaders: this runs on every answer.
                raw = message.setdefault("headers", [])
                if not isinstance(raw, list):
                    raw = message["headers"] = list(raw)
                html = nosniff = policy = False
                for raw_name, value in raw:
                    name = raw_name.lower()
                    if name == b"content-security-policy":
                        policy = True
                    elif name == b"x-content-type-options":
                        nosniff = True  # a route set it: once is enough (it was sent twice)
                    elif name == b"content-type":
                        html = value.split(b";", 1)[0].strip().lower() in _HTML
                if not nosniff:
                    raw.append(_NOSNIFF)
                if html and not policy:
                    raw.append(_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
