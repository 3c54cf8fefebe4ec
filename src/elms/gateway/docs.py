"""The API's documentation pages, offline: Swagger UI at /docs and ReDoc at /redoc, their
scripts and styles served from the gateway itself (shipped by the fastapi-offline package), and
no inline script, so the gateway's Content-Security-Policy lets them run (elms.gateway.edge)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"
OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False)

_SWAGGER_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ELMS API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script>
</body>
</html>
"""
# What FastAPI writes inline into its page, as a script of its own.
_SWAGGER_INIT = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_URL}",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
"""
_REDOC_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ELMS API</title>
<link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
<redoc spec-url="{OPENAPI_URL}"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script>
</body>
</html>
"""


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_PAGE)


@router.get("/docs/swagger-init.js")
async def swagger_init() -> Response:
    return Response(_SWAGGER_INIT, media_type="text/javascript")


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return HTMLResponse(_REDOC_PAGE)


def assets() -> StaticFiles:
    """Swagger UI's and ReDoc's files, as the fastapi-offline package ships them."""
    return StaticFiles(directory=str(files("fastapi_offline") / "static"))
