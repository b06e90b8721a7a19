"""The local web UI: the Registry App and the artifact browser (``localreg ui``).

Needs the ``ui`` extra (starlette, uvicorn, jinja2, python-multipart).
"""

from .app import create_app

__all__ = ["create_app"]
