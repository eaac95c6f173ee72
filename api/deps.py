"""Dependencies for routes: the settings and the store the app was built with.

Both live on ``app.state`` (set by :func:`api.app.create_app` and its lifespan); routes ask for
them through these aliases instead of reaching for globals. The hot ``/sparql`` route calls
:func:`settings_of` / :func:`store_of` directly: FastAPI's dependency solving costs more than
the rest of that request path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from kg.config import Settings
from kg.errors import StoreUnavailable
from kg.store.base import Store

__all__ = [
    "SettingsDep",
    "StoreDep",
    "get_app_settings",
    "get_store",
    "settings_of",
    "store_of",
]


def settings_of(request: Request) -> Settings:
    """The Settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def store_of(request: Request) -> Store:
    """The open store; StoreUnavailable while the app is starting or stopping."""
    store: Store | None = request.app.state.store
    if store is None:
        raise StoreUnavailable("the store is not open (the server is starting or stopping)")
    return store


# async: FastAPI would run plain functions in a worker thread, per request.
async def get_app_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_store(request: Request) -> Store:
    return store_of(request)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
