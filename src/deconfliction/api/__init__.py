"""HTTP: FastAPI routes and error handlers only. Nothing else imports fastapi."""

from .app import create_app

__all__ = ["create_app"]
