"""``/docs``: Swagger UI 5 (it reads OpenAPI 3.1) from the ``swagger-ui-bundle-v2`` package's files, so
it works without internet.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN and is blank offline; this one serves the
same UI's JavaScript and CSS from the installed package, under ``/docs/assets``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

router = APIRouter(include_in_schema=False)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs")
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="attribution API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    body = (swagger_ui_path / name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"})
