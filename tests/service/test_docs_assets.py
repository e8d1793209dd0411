"""``/docs`` offline and the vendored web assets (issue 12 item 21).

Swagger UI and ECharts are vendored by ``make install`` (``npm pack``) into
``service/static/vendor/`` and served by the app; the package data ships them
in a wheel as well as in an editable install; a missing one is reported at
start and by ``/api/health`` rather than leaving a blank page.
"""

from __future__ import annotations

import logging
import re
import shutil
import tomllib
from pathlib import Path

from tzero.service import assets
from tzero.service.app import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]


def _require_vendored() -> None:
    missing = assets.missing(STATIC_DIR)
    assert not missing, f"{missing} missing under {STATIC_DIR}: run make install"


def test_docs_are_served_from_the_app(make_client) -> None:
    _require_vendored()
    c = make_client()
    r = c.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in urls, urls
    assert "/static/vendor/swagger-ui/swagger-ui.css" in urls, urls
    assert not [u for u in urls if "//" in u], f"fetched from elsewhere: {urls}"
    assert '"validatorUrl": null' in html       # no badge from validator.swagger.io
    for u in urls:
        a = c.get(u)
        assert a.status_code == 200 and len(a.content) > 100, u
    assert "SwaggerUIBundle" in c.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").text
    assert c.get("/redoc").status_code == 404       # ReDoc would load from a CDN
    assert c.get("/openapi.json").status_code == 200


def test_missing_vendored_assets_are_reported(make_client, monkeypatch, tmp_path, caplog) -> None:
    import tzero.service.app as app_module

    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static, ignore=shutil.ignore_patterns("vendor"))
    monkeypatch.setattr(app_module, "STATIC_DIR", static)
    with caplog.at_level(logging.WARNING, logger="tzero.service"):
        c = make_client()
    assert "echarts.min.js" in caplog.text and "make install" in caplog.text
    h = c.get("/api/health").json()
    assert h["status"] == "degraded", h
    why = " ".join(h["reasons"])
    assert "echarts.min.js" in why and "swagger-ui-bundle.js" in why and "make install" in why
    r = c.get("/docs")
    assert r.status_code == 503 and "make install" in r.text and "/openapi.json" in r.text


def test_package_data_ships_every_static_file() -> None:
    _require_vendored()
    with open(ROOT / "pyproject.toml", "rb") as fh:
        globs = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["tzero"]
    pkg = ROOT / "src" / "tzero"
    shipped = {p.resolve() for g in globs for p in pkg.glob(g)}
    files = [p.resolve() for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert files and [p for p in files if p not in shipped] == []
