"""Killable query workers: the public names of the three modules that implement them.

- :mod:`kg.store.messages`: what server and worker say to each other, and the framing;
- :mod:`kg.store.child`: the worker process (opens the store, answers jobs);
- :mod:`kg.store.zygote`: the fork server that starts workers warm;
- :mod:`kg.store.process`: one worker as the pool sees it (/proc readings, what a death means);
- :mod:`kg.store.admission`: per-client limits and penalties;
- :mod:`kg.store.pool`: the server side (deadlines, lanes, memory watchdog, replacement).
"""

from __future__ import annotations

from kg.errors import WorkerCrashed
from kg.store.messages import WorkerConfig
from kg.store.pool import WorkerPool

__all__ = ["WorkerConfig", "WorkerCrashed", "WorkerPool"]
