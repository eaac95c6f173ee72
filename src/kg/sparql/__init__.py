"""SPARQL protocol pieces that are not web-specific: formats, guards, service description."""
