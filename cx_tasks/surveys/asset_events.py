"""New feedback announced to Airflow as an asset event, through its REST API.

The response app runs outside Airflow too (``cx serve-surveys``): there it tells Airflow
about stored feedback with ``POST /api/v2/assets/events`` on the feedback Asset
(``FEEDBACK_ASSET_URI``, ``extra`` = ``{"feedback_ids": [...]}``), logged in through
``POST /auth/token`` (SimpleAuthManager). The asset's id is looked up once
(``GET /api/v2/assets?uri_pattern=...``) and the bearer token kept until Airflow refuses it.
An announcement that fails is logged and dropped: the feedback is already stored, and the
next run picks up every unacknowledged feedback row anyway.

=========================  =====================================================  =========
variable                   meaning                                                default
=========================  =====================================================  =========
CX_AIRFLOW_API_URL         Airflow's api-server, e.g. ``http://127.0.0.1:8080``   (none: no
                                                                                  announcing)
CX_AIRFLOW_USERNAME        user to log in as                                      ``admin``
CX_AIRFLOW_PASSWORD        their password                                         (none)
CX_AIRFLOW_PASSWORD_FILE   a file with the password, or SimpleAuthManager's       (none)
                           ``simple_auth_manager_passwords.json.generated``
=========================  =====================================================  =========
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

FEEDBACK_ASSET_URI = "cx://collect/feedback"
"""The URI of ``cx_airflow.assets.CX_FEEDBACK`` (a test keeps the two equal)."""


@dataclass(frozen=True)
class AirflowApi:
    """Where Airflow's REST API is and whom to log in as."""

    url: str
    username: str
    password: str


class NotAnnounced(RuntimeError):
    """Airflow answered, but not with what announcing needs."""


def airflow_api(environ: dict[str, str] | None = None) -> AirflowApi | None:
    """The REST API to announce through, from the environment; None when not configured."""
    env = os.environ if environ is None else environ
    url = env.get("CX_AIRFLOW_API_URL", "").rstrip("/")
    if not url:
        return None
    username = env.get("CX_AIRFLOW_USERNAME", "admin")
    password = env.get("CX_AIRFLOW_PASSWORD")
    if password is None and env.get("CX_AIRFLOW_PASSWORD_FILE"):
        password = password_from_file(Path(env["CX_AIRFLOW_PASSWORD_FILE"]), username)
    return AirflowApi(url=url, username=username, password=password or "")


def password_from_file(path: Path, username: str) -> str:
    """The password in ``path``: SimpleAuthManager's JSON ``{user: password}``, or plain text."""
    text = path.read_text(encoding="utf-8").strip()
    try:
        passwords = json.loads(text)
    except ValueError:
        return text
    return str(passwords[username]) if isinstance(passwords, dict) else text


class FeedbackAnnouncer:
    """``announcer(feedback_ids)`` posts one asset event on the feedback Asset naming them;
    returns whether Airflow accepted it, and never raises for a failure of Airflow's."""

    def __init__(self, api: AirflowApi, client: httpx.Client | None = None,
                 timeout: float = 5.0) -> None:
        self.api = api
        self.client = client or httpx.Client(base_url=api.url, timeout=timeout)
        self._token: str | None = None
        self._asset_id: int | None = None

    def __call__(self, feedback_ids: list[str]) -> bool:
        try:
            self._request("POST", "/api/v2/assets/events",
                          json={"asset_id": self.asset_id(),
                                "extra": {"feedback_ids": list(feedback_ids)}})
        except (httpx.HTTPError, NotAnnounced, ValueError) as error:
            log.warning("feedback %s stored but not announced to Airflow at %s (%s: %s); "
                        "the next run picks it up", feedback_ids, self.api.url,
                        type(error).__name__, error)
            return False
        return True

    def asset_id(self) -> int:
        """Airflow's id of the feedback Asset (looked up once)."""
        if self._asset_id is None:
            found = self._request("GET", "/api/v2/assets",
                                  params={"uri_pattern": FEEDBACK_ASSET_URI}).json()
            ids = [a["id"] for a in found.get("assets", []) if a.get("uri") == FEEDBACK_ASSET_URI]
            if not ids:
                raise NotAnnounced(f"Airflow knows no asset {FEEDBACK_ASSET_URI} "
                                   "(no DAG declares it yet)")
            self._asset_id = ids[0]
        return self._asset_id

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """One API call with the bearer token, logging in again once if Airflow refuses it."""
        response = self._send(method, path, **kwargs)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            self._token = None
            response = self._send(method, path, **kwargs)
        response.raise_for_status()
        return response

    def _send(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return self.client.request(method, path,
                                   headers={"Authorization": f"Bearer {self._bearer()}"},
                                   **kwargs)  # type: ignore[arg-type]

    def _bearer(self) -> str:
        if self._token is None:
            response = self.client.post("/auth/token", json={
                "username": self.api.username, "password": self.api.password})
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token


def announcer_from_env(environ: dict[str, str] | None = None) -> FeedbackAnnouncer | None:
    """A ``FeedbackAnnouncer`` for the configured Airflow, or None when none is configured."""
    api = airflow_api(environ)
    return FeedbackAnnouncer(api) if api is not None else None
