"""The dashboard: a web application over a runs folder and a ledger, with human review.

``neurath serve`` runs it with uvicorn; :func:`create_app` makes it (FastAPI). Pages and their
JSON (``/api/...``) show runs, targets, ledgers and a run in progress (server-sent events); the
review queue records reviews through :class:`neurath.review.ReviewService`. Everything it
serves comes from this package: templates (Jinja2, autoescaped), static JS and CSS, and plots
drawn as SVG in Python. Users and sessions: :mod:`neurath.web._accounts`; who may reach what:
:mod:`neurath.web._guard` and :mod:`neurath.web._views`.
"""

from neurath.web._app import create_app

__all__ = ["create_app"]
