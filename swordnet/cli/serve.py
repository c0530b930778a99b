"""``swordnet serve``: the web console and REST API."""

from __future__ import annotations

import click

from swordnet.cli.util import console, current_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep the loopback default behind a reverse proxy).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the web console and REST API (OpenAPI at /api/v1/openapi.json)."""
    import uvicorn

    from swordnet.web.app import create_app

    app = create_app(current_settings())
    console().print(f"Swordnet console at http://{host}:{port}/ (API: /api/v1, Ctrl-C stops)")
    # X-Forwarded-For is believed from SWORDNET_TRUSTED_PROXIES only (in the app), never
    # from uvicorn's default of 127.0.0.1.
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False,
                proxy_headers=False)
