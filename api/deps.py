"""Dependencies for routes: the settings and the store the app was built with.

Both live on ``app.state`` (set by :func:`api.app.create_app` and its lifespan); routes ask for
them through these aliases instead of reaching for globals.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kg.config import Settings
from kg.errors import StoreUnavailable
from kg.store.base import Store

__all__ = ["SettingsDep", "StoreDep", "get_app_settings", "get_store"]


def get_app_settings(request: Request) -> Settings:
    """The Settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    """The open store; StoreUnavailable while the app is starting or stopping."""
    store: Store | None = getattr(request.app.state, "store", None)
    if store is None:
        raise StoreUnavailable("the store is not open (the server is starting or stopping)")
    return store


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
