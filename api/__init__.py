"""The web layer of kg: FastAPI routers over the kg core (create the app with create_app)."""
