"""Benchmarks at scale: a synthetic pairing-network generator and a side-by-side HTTP runner.

Not tests: nothing here runs in ``make test``. ``make bench`` runs ``python -m bench.run``.
"""

__all__: list[str] = []
