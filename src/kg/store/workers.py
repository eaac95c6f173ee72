"""Killable query workers: the public names of the three modules that implement them.

- :mod:`kg.store.messages`: what server and worker say to each other, and the framing;
- :mod:`kg.store.child`: the worker process (opens the store, answers jobs);
- :mod:`kg.store.pool`: the server side (spawning, deadlines, lanes, memory watchdog).
"""

from __future__ import annotations

from kg.errors import WorkerCrashed
from kg.store.messages import WorkerConfig
from kg.store.pool import WorkerPool

__all__ = ["WorkerConfig", "WorkerCrashed", "WorkerPool"]
