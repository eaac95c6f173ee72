"""W3C SPARQL 1.1 conformance, driven over HTTP against any running endpoint.

``python -m tests.w3c.runner --endpoint URL`` runs the suite in ``tests/w3c/suite``
(a copy of shared/w3c-sparql11);
``tests/w3c/test_w3c.py`` runs it against our endpoint (and oxigraph as the reference).
"""
