"""The routers of the web layer; each parses a request, calls the core, renders the answer."""
