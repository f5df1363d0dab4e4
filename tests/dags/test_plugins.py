"""The cx_airflow plugins: connection URLs and the SmtpHook transport against a real server."""

from __future__ import annotations

import json
from datetime import datetime
from email import message_from_bytes, policy

import pytest
from fixtures.smtp_peers import answering_server, free_port

from cx_tasks.mail.outbox import OutboxMessage, message_id_for

pytestmark = pytest.mark.airflow


def _connection(**fields):
    from airflow.sdk import Connection

    return Connection(conn_id="x", **fields)


@pytest.mark.parametrize(("fields", "url"), [
    ({"conn_type": "postgres", "host": "db", "port": 5432, "login": "cx", "password": "p@ss",
      "schema": "warehouse"}, "postgresql+psycopg2://cx:p%40ss@db:5432/warehouse"),
    ({"conn_type": "postgresql", "host": "db", "schema": "w"}, "postgresql+psycopg2://db/w"),
    ({"conn_type": "sqlite", "host": "/srv/cx/warehouse.db"}, "sqlite:////srv/cx/warehouse.db"),
    ({"conn_type": "sqlite", "schema": "/srv/cx/warehouse.db"}, "sqlite:////srv/cx/warehouse.db"),
])
def test_sqlalchemy_url_of_an_airflow_connection(fields, url) -> None:
    from cx_airflow.connections import sqlalchemy_url

    assert sqlalchemy_url(_connection(**fields)) == url


def test_urls_come_from_connections_else_settings(monkeypatch, tmp_path) -> None:
    from cx_airflow.connections import source_url, warehouse_url

    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    assert warehouse_url() == f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_CX_SOURCE", json.dumps(
        {"conn_type": "sqlite", "host": str(tmp_path / "erp.db")}))
    assert source_url() == f"sqlite:///{tmp_path / 'erp.db'}"


def _smtp_conn(port: int) -> str:
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                       "extra": {"from_email": "cx@example.com", "disable_ssl": True,
                                 "disable_tls": True, "timeout": 5, "retry_limit": 0}})


def _message(key: str, recipient: str) -> OutboxMessage:
    return OutboxMessage(idempotency_key=key, message_id=message_id_for(key), kind="test",
                         recipient=recipient, subject=f"about {key}", body_text="text",
                         body_html="<p>html</p>", created_at=datetime(2026, 5, 2), attempts=1)


def test_smtp_transport_sends_a_batch_over_the_smtp_default_connection(monkeypatch) -> None:
    from cx_airflow.mailer import smtp_transport

    with answering_server() as (handler, port):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _smtp_conn(port))
        outcomes = smtp_transport()([_message("a", "ok@example.com"),
                                     _message("b", "bounce@example.com"),
                                     _message("c", "later@example.com")])
    assert [(o.result, o.answer) for o in outcomes] == [
        ("sent", None), ("permanent", "550 5.1.1 no such user"),
        ("transient", "451 4.3.0 mailbox busy")]
    (raw,) = handler.received
    mail = message_from_bytes(raw, policy=policy.default)
    assert (mail["From"], mail["To"], mail["Message-ID"]) == (
        "cx@example.com", "ok@example.com", message_id_for("a"))
    assert mail.get_content_type() == "multipart/alternative"


def test_smtp_transport_leaves_everything_queued_when_the_server_refuses(monkeypatch) -> None:
    from cx_airflow.mailer import smtp_transport

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _smtp_conn(free_port()))  # nobody listens
    outcomes = smtp_transport()([_message("a", "ok@example.com"), _message("b", "x@example.com")])
    assert [o.result for o in outcomes] == ["transient", "transient"]
    assert all(o.answer.startswith("no SMTP session: ConnectionRefusedError") for o in outcomes)
