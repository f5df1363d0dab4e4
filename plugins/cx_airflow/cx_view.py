"""The CX view inside Airflow: ``cx_tasks.monitor.view`` mounted in the api-server at
``/cx`` and shown as a "CX" entry in the navigation.

A FastAPI app a plugin mounts is not protected by Airflow (AIRFLOW_NOTES): this module
checks every request itself. The user comes from Airflow's own JWT, the
``Authorization: Bearer`` header or else the UI's session cookie ``_token``, validated
by the configured auth manager (``get_user_from_token``: signature, expiry, revocation),
and must be allowed Airflow's website view. Anything else is refused with 401. Loading
the plugin imports neither FastAPI nor the warehouse: the app is built on first request.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

URL_PREFIX = "/cx"


async def airflow_user(request: Any) -> str | None:
    """The name of the Airflow user the request is signed in as, or None."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    header = request.headers.get("authorization", "")
    token = (header[7:].strip() if header.lower().startswith("bearer ")
             else request.cookies.get(COOKIE_NAME_JWT_TOKEN))
    if not token:
        return None
    manager = get_auth_manager()
    try:
        user = await manager.get_user_from_token(token)
    except Exception as error:  # noqa: BLE001 - any invalid, expired or revoked token
        log.info("CX view refused a token: %s", type(error).__name__)
        return None
    if not manager.is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        return None
    return str(user.get_name())


class LazyCxView:
    """An ASGI app that builds the CX view on first use over connection ``cx_warehouse``."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            from dataclasses import replace

            from cx_airflow.connections import warehouse_url
            from cx_tasks.config import settings
            from cx_tasks.monitor.view import create_view_app

            config = replace(settings(), warehouse_url=warehouse_url())
            self.app = create_view_app(config, airflow_user, root=URL_PREFIX)
        await self.app(scope, receive, send)


class CxViewPlugin(AirflowPlugin):
    """The CX view under ``/cx`` and its "CX" navigation entry."""

    name = "cx_view"
    fastapi_apps = [{"app": LazyCxView(), "url_prefix": URL_PREFIX, "name": "CX view"}]
    external_views = [{"name": "CX", "href": f"{URL_PREFIX}/kpis", "destination": "nav",
                       "url_route": "cx", "category": "browse"}]
