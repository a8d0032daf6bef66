"""`reportchain web`: serve the web console on the configured database (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.settings import Settings, load_settings
from core.texts import message
from reportchain.cli.common import app, out


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the console until interrupted. Behind the county's HTTPS reverse proxy, uvicorn trusts the
    X-Forwarded-Proto/-For headers only from REPORTCHAIN_WEB_FORWARDED_ALLOW_IPS."""
    import uvicorn

    from web.app import create_app

    out.print(message("web.serving", url=f"http://{host}:{port}", public=settings.web.url))
    uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True,
                forwarded_allow_ips=settings.web.forwarded_allow_ips, log_level="warning", server_header=False)


@app.command("web")
def web_cmd(
    host: Annotated[str, typer.Option(help="监听地址（默认只在本机；由反向代理对外提供 HTTPS）。")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="监听端口。")] = 8000,
) -> None:
    """启动网页控制台（使用当前配置的数据库）。"""
    serve(load_settings(), host, port)
