"""Dependencies for routes: the application context, the settings, the served store.

All of them read the one typed :class:`api.state.AppContext` on ``app.state.ctx``. ``StoreDep``
and ``ServedDep`` hold the served store for the whole request (:meth:`AppContext.use`): a build
switch meanwhile lets the request finish on the store it started with. The ``/sparql`` route
calls :meth:`AppContext.use` itself: FastAPI's dependency solving costs more than the rest of
that request path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from api.state import AppContext, Served, context_of
from kg.config import Settings
from kg.store.base import Store

__all__ = [
    "ContextDep",
    "ServedDep",
    "SettingsDep",
    "StoreDep",
    "get_app_settings",
    "get_context",
    "get_served",
    "get_store",
    "settings_of",
    "store_of",
]


def settings_of(request: Request) -> Settings:
    """The Settings the app was created with."""
    return context_of(request).settings


def store_of(request: Request) -> Store:
    """The served store now; StoreUnavailable while the app is starting or stopping.

    Prefer ``StoreDep``: this one does not keep the store open through a build switch.
    """
    return context_of(request).current().store


# async: FastAPI would run plain functions in a worker thread, per request.
async def get_context(request: Request) -> AppContext:
    return context_of(request)


async def get_app_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_served(request: Request) -> AsyncIterator[Served]:
    async with context_of(request).use() as served:
        yield served


async def get_store(request: Request) -> AsyncIterator[Store]:
    async with context_of(request).use() as served:
        yield served.store


ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServedDep = Annotated[Served, Depends(get_served)]
StoreDep = Annotated[Store, Depends(get_store)]
