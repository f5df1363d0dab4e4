"""The survey response app mounted in Airflow's api-server at ``/cx-surveys``.

Inside the api-server, stored feedback is announced the most direct way: the asset event
on ``CX_FEEDBACK`` is registered in the metadata DB by the same call the REST endpoint
``POST /api/v2/assets/events`` makes (``asset_manager.register_asset_change``), so no
credentials or HTTP round trip are needed and any auth manager works. Every Airflow
process loads plugins (each task start too), so the app is built on its first request:
loading the plugin imports neither FastAPI nor the warehouse.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from cx_airflow.assets import CX_FEEDBACK

log = logging.getLogger(__name__)

URL_PREFIX = "/cx-surveys"


def announce_feedback(feedback_ids: list[str]) -> bool:
    """Register an asset event on ``CX_FEEDBACK`` naming ``feedback_ids``; True if Airflow
    knows the asset (a DAG declares it) and the event was stored."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == CX_FEEDBACK.name,
                                                        AssetModel.uri == CX_FEEDBACK.uri))
        event = asset and asset_manager.register_asset_change(
            asset=asset, extra={"feedback_ids": list(feedback_ids)}, source_is_api=True,
            session=session)
    if event is None:
        log.warning("feedback %s stored but not announced: Airflow knows no asset %s yet; "
                    "the next run picks it up", feedback_ids, CX_FEEDBACK.uri)
    return event is not None


class LazySurveyApp:
    """An ASGI app that builds the response app (``cx_tasks.surveys.app``) on first use: the
    warehouse of connection ``cx_warehouse`` (else settings), the environment's survey
    secret, feedback announced with ``announce_feedback``."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            from dataclasses import replace

            from cx_airflow.connections import warehouse_url
            from cx_tasks.config import settings
            from cx_tasks.surveys.app import create_app

            config = replace(settings(), warehouse_url=warehouse_url())
            self.app = create_app(config, announce_feedback)
        await self.app(scope, receive, send)


class CxSurveysPlugin(AirflowPlugin):
    """Serves the survey response app under ``/cx-surveys`` of the api-server."""

    name = "cx_surveys"
    fastapi_apps = [{"app": LazySurveyApp(), "url_prefix": URL_PREFIX,
                     "name": "CX Loop survey responses"}]
