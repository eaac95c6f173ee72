"""Query engines behind one interface (see :mod:`kg.store.base`)."""
