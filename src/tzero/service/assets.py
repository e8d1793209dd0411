"""The web assets vendored by ``make install`` and the offline ``/docs`` page.

ECharts (the charts of ``/lstm`` and ``/compare``) and Swagger UI (``/docs``)
come from the npm registry at install time (``npm pack``, see the Makefile),
live gitignored under ``service/static/vendor/`` and are served by the app
under ``/static``; nothing is fetched from a CDN at run time. The package data
of ``pyproject.toml`` ships them in a wheel; an editable install reads them
from the source tree. A missing one is named at ``tzero serve`` start (a
warning) and by ``/api/health`` (``degraded``).

``/docs`` follows FastAPI's "self-hosting JavaScript and CSS for docs" recipe:
the app is built with ``docs_url=None`` and serves
:func:`fastapi.openapi.docs.get_swagger_ui_html` pointing at the vendored files.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

#: Vendored files (relative to the static folder) and what needs them.
VENDORED: dict[str, str] = {
    "vendor/echarts.min.js": "the charts of /lstm and /compare",
    "vendor/swagger-ui/swagger-ui-bundle.js": "/docs",
    "vendor/swagger-ui/swagger-ui.css": "/docs",
}
#: Where the app serves Swagger UI's files (the static mount + the vendor folder).
SWAGGER_URL = "/static/vendor/swagger-ui"


def missing(static_dir: Path) -> list[str]:
    """The :data:`VENDORED` files absent from ``static_dir``."""
    return [rel for rel in VENDORED if not (Path(static_dir) / rel).is_file()]


def missing_message(static_dir: Path, names: list[str]) -> str:
    """One line naming the missing files, what breaks without them, and how to get them."""
    what = ", ".join(f"{n} ({VENDORED.get(n, 'the page')})" for n in names)
    return (f"web assets missing under {static_dir}: {what}; run `make install` (it vendors them "
            "from the npm registry with npm pack), then restart the server")


def docs_page(static_dir: Path, openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI on the vendored files; 503 with how to vendor them when they are absent."""
    gone = [n for n in missing(static_dir) if n.startswith("vendor/swagger-ui/")]
    if gone:
        body = (f"<!doctype html><title>{escape(title)} API docs</title>"
                f"<p>Swagger UI is not available: {escape(missing_message(static_dir, gone))}.</p>"
                f"<p>The OpenAPI schema is at <a href='{openapi_url}'>{openapi_url}</a>.</p>")
        return HTMLResponse(body, status_code=503)
    return get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} API docs",
                               swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{SWAGGER_URL}/favicon-32x32.png",
                               swagger_ui_parameters={"validatorUrl": None})
