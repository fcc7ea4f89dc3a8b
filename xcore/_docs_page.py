"""The OpenAPI page ``/docs``, served entirely from installed files: it renders without internet.

FastAPI's own page loads Swagger UI's script and stylesheet from a CDN, so on a machine without
internet access (an air-gapped server, a laptop on a train) ``/docs`` is a blank page. Here the same
page is built with FastAPI's ``get_swagger_ui_html``, pointing at the Swagger UI files that the
``fastapi-offline`` package ships (a dependency of XCore), mounted under ``/docs/assets``. ReDoc is
not served (it never was).

The page's routes are plain Starlette routes, as FastAPI declares its own docs page: they are not API
operations, and a plain route costs less to pass over while a request looks for its route. The app
puts them behind the plugins' routes (:func:`xcore.web.create_app`), where they cost nothing at all.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def swagger_ui_assets() -> Path:
    """The folder holding Swagger UI's files; an error naming the package if it lacks them."""
    folder = Path(str(files("fastapi_offline").joinpath("static")))
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(
            f"the fastapi-offline package in {folder} lacks {', '.join(missing)}: "
            "reinstall it (pip install --force-reinstall fastapi-offline)"
        )
    return folder


def add_docs_page(app: FastAPI) -> list[BaseRoute]:
    """Serve Swagger UI at ``/docs`` for ``app.openapi_url``, its assets from the installed package.

    Returns the routes added (the assets' mount, the page, its OAuth2 redirect).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = f"{DOCS_URL}/oauth2-redirect"
    before = len(app.router.routes)
    app.mount(ASSETS_URL, StaticFiles(directory=swagger_ui_assets()), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
    return app.router.routes[before:]
