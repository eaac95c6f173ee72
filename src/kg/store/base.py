"""The store interface, re-exported from :mod:`kg.sparql.types` (where it lives so that
``kg.sparql`` never imports ``kg.store``)."""

from __future__ import annotations

from kg.sparql.types import QueryRequest, QueryResult, ResultKind, Store, StoreInfo

__all__ = ["QueryRequest", "QueryResult", "ResultKind", "Store", "StoreInfo"]
