"""Benchmark of the outbox: invitations rendered, enqueued and sent to a local SMTP server.

    .venv/bin/python bench/bench_outbox.py                 # 10,000 messages, 3 runs, plain SMTP
    .venv/bin/python bench/bench_outbox.py --tls           # the same with STARTTLS
    .venv/bin/python bench/bench_outbox.py --smtp-hook     # also Airflow's SmtpHook transport

Each run renders N survey invitations (``cx_tasks.surveys.invitations.invitation_mail``:
ru/en templates, signed score and unsubscribe links), enqueues them with
``outbox.enqueue`` into a fresh SQLite warehouse in a temp folder, and delivers them with
``outbox.deliver`` over ``cx_tasks.mail.smtp.session_transport`` twice, side by side: a
batch over one SMTP connection (the default path) and one connection per message. Sessions
are plain ``smtplib`` (``--tls``: STARTTLS against a throw-away self-signed certificate,
verified); under Airflow ``cx_airflow.mailer`` opens them with ``SmtpHook`` instead, which
``--smtp-hook`` measures too (one run, batch path).

The SMTP server is aiosmtpd (on uvloop when installed) in a separate process, counting and
discarding messages. It is measured alone first (a bare smtplib client sending one
prebuilt invitation over one session). Besides wall-clock messages per second the script
prints the CPU milliseconds per message of the sender (this process) and of the server
process, which stay meaningful on a busy machine where wall-clock rates do not. Asserts
nothing except that every message reached the server.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

SENDER = "cx-loop@example.com"
CREATED = datetime(2026, 5, 2, 2, 0)
KIND = "invitation"


# --- the server (its own process) --------------------------------------------------------

class Counting:
    """An aiosmtpd handler that accepts every message and only counts it."""

    def __init__(self, counter: Synchronized) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 queued"


def serve(port: int, counter: Synchronized, ready: Any, stop: Any, cert: str | None) -> None:
    """Run the counting server on 127.0.0.1:``port`` until ``stop`` is set (STARTTLS
    required when ``cert`` names a PEM file with the certificate and its key)."""
    import asyncio

    from aiosmtpd.controller import Controller

    try:
        import uvloop
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    tls: dict[str, Any] = {}
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert)
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(Counting(counter), hostname="127.0.0.1", port=port, loop=loop,
                            **tls)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def self_signed_pem(folder: Path) -> Path:
    """A throw-away certificate for 127.0.0.1 and its RSA-2048 key, in one PEM file."""
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(
                "127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    path = folder / "relay.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption())
                     + cert.public_bytes(serialization.Encoding.PEM))
    return path


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a (Linux) process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the sender --------------------------------------------------------------------------

def render(count: int, secret_dir: Path) -> list[tuple[str, str, Any, dict[str, str]]]:
    """``count`` invitations rendered: (key, recipient, mail, headers), ru and en alternating,
    every transactional and relationship survey in turn."""
    from cx_tasks.config import Settings
    from cx_tasks.surveys.catalogue import survey_catalogue
    from cx_tasks.surveys.invitations import invitation_mail

    catalogue = survey_catalogue()
    settings = Settings(data_dir=secret_dir, warehouse_url="", source_url="", rules_dir=None,
                        survey_secret_text="bench-secret")
    rendered = []
    for i in range(count):
        survey = catalogue.surveys[i % len(catalogue.surveys)]
        invitation = {"invitation_id": f"inv:bench-{i}:c{i:05d}", "contact_id": f"c{i:05d}",
                      "survey_id": survey.id, "language": ("ru", "en")[i % 2],
                      "full_name": f"Contact {i}", "client_name": f"Client {i % 300}",
                      "order_id": f"SO-{i:06d}", "ref_id": f"SO-{i:06d}"}
        mail, headers = invitation_mail(invitation, catalogue, settings, CREATED)
        rendered.append((f"invitation:{invitation['invitation_id']}",
                         f"c{i:05d}@client.example", mail, headers))
    return rendered


def fresh_warehouse(folder: Path, name: str) -> str:
    """A migrated, empty SQLite warehouse ``folder/name.db``."""
    from cx_tasks.warehouse.db import engine_for, migrate

    path = folder / f"{name}.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    migrate(engine_for(url))
    return url


def enqueue_all(url: str, rendered: list[tuple[str, str, Any, dict[str, str]]]) -> None:
    """Every rendered invitation into the outbox, in one transaction; their contacts staged
    from the CRM (none opted out), so the send-time opt-out check has its real work."""
    from sqlalchemy import insert

    from cx_tasks.mail.outbox import enqueue
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.schema import STAGING

    with engine_for(url).begin() as conn:
        conn.execute(insert(STAGING["crm_contacts"]), [
            {"contact_id": recipient.split("@")[0], "client_id": "K1", "role": "operator",
             "full_name": "", "email": recipient, "language": "en", "opted_out": False,
             "updated_at": CREATED, "interval_start": CREATED}
            for _, recipient, _, _ in rendered])
        for key, recipient, mail, headers in rendered:
            enqueue(conn, idempotency_key=key, kind=KIND, recipient=recipient,
                    subject=mail.subject, body_text=mail.text, body_html=mail.html,
                    created_at=CREATED, contact_id=recipient.split("@")[0], headers=headers)



@dataclass(frozen=True)
class Figures:
    """One measured delivery: messages per wall second, CPU ms per message on each side."""

    rate: float
    sender_ms: float
    server_ms: float


@dataclass
class Bench:
    """The running server and how to reach it."""

    port: int
    server_pid: int
    counter: Synchronized
    client_tls: ssl.SSLContext | None

    def open_session(self) -> smtplib.SMTP:
        """A plain smtplib session (STARTTLS first when the server requires it)."""
        client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        if self.client_tls is not None:
            client.starttls(context=self.client_tls)
        return client

    def measure(self, count: int, action: Callable[[], Any]) -> Figures:
        """Run ``action``, which must get ``count`` messages to the server; its figures."""
        arrived = self.counter.value
        server, sender, started = (process_cpu_seconds(self.server_pid), time.process_time(),
                                   time.perf_counter())
        action()
        seconds = time.perf_counter() - started
        sender_ms = (time.process_time() - sender) * 1000 / count
        server_ms = (process_cpu_seconds(self.server_pid) - server) * 1000 / count
        if self.counter.value - arrived != count:
            raise SystemExit(f"{count} messages sent but {self.counter.value - arrived} arrived")
        return Figures(count / seconds, sender_ms, server_ms)

    def deliver(self, url: str, transport: Any, rules: Any, count: int) -> Figures:
        """Deliver the outbox at ``url`` through ``transport``; its figures."""
        from cx_tasks.mail.outbox import deliver

        def run() -> None:
            summary = deliver(url, transport, kinds=[KIND], rules=rules)
            if summary.sent != count:
                raise SystemExit(f"not every message was sent: {summary}")

        return self.measure(count, run)

    def alone(self, raw: bytes, count: int) -> Figures:
        """The server taking ``count`` copies of ``raw`` from a bare smtplib session."""

        def run() -> None:
            with self.open_session() as client:
                for _ in range(count):
                    client.sendmail(SENDER, ["x@client.example"], raw)

        return self.measure(count, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="invitations per run")
    parser.add_argument("--runs", type=int, default=3, help="runs (medians are printed)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="messages per claim and session (default: rules/outbox.yaml)")
    parser.add_argument("--sessions", type=int, default=None,
                        help="sessions a batch is sent over at once (default: rules/outbox.yaml)")
    parser.add_argument("--tls", action="store_true", help="STARTTLS on every session")
    parser.add_argument("--smtp-hook", action="store_true",
                        help="also deliver one run through cx_airflow.mailer (SmtpHook)")
    args = parser.parse_args()

    from cx_tasks.loopback import free_port
    from cx_tasks.mail.outbox import OutboxMessage, message_id_for, outbox_rules
    from cx_tasks.mail.smtp import mime_message, session_transport
    from cx_tasks.warehouse.db import engine_for

    rules = outbox_rules()
    if args.batch_size:
        rules = rules.model_copy(update={"batch_size": args.batch_size})
    if args.sessions:
        rules = rules.model_copy(update={"sessions": args.sessions})
    folder = Path(tempfile.mkdtemp(prefix="cx-bench-outbox-"))
    cert = self_signed_pem(folder) if args.tls else None
    client_tls = ssl.create_default_context(cafile=str(cert)) if cert else None
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    counter, ready, stop = ctx.Value("q", 0), ctx.Event(), ctx.Event()
    server = ctx.Process(target=serve, args=(port, counter, ready, stop,
                                             str(cert) if cert else None), daemon=True)
    server.start()
    if not ready.wait(60) or server.pid is None:
        raise SystemExit("the SMTP server did not start")
    bench = Bench(port, server.pid, counter, client_tls)

    print(f"outbox benchmark: {args.messages:,} invitations per path and run, {args.runs} runs, "
          f"batch size {rules.batch_size}, {'STARTTLS' if args.tls else 'plain SMTP'}; "
          f"server: aiosmtpd in process {server.pid}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; folder {folder}")
    key, recipient, mail, headers = render(1, folder)[0]
    sample = OutboxMessage(key, message_id_for(key), KIND, recipient, mail.subject, mail.text,
                           mail.html, CREATED, 1, None, headers)
    raw = mime_message(sample, SENDER).as_bytes()
    alone = bench.alone(raw, 2000)
    print(f"server alone, bare smtplib over one session, 2,000 x {len(raw):,} bytes: "
          f"{alone.rate:,.0f} msg/s, server CPU {alone.server_ms:.2f} ms/msg")
    print(f"{'run':>4}{'render/s':>10}{'enqueue/s':>11}  {'batch: msg/s':>13}{'cpu ms':>14}"
          f"  {'per-conn: msg/s':>16}{'cpu ms':>14}{'ratio':>7}")
    print(f"{'':>4}{'':>10}{'':>11}  {'':>13}{'sender/server':>14}  {'':>16}"
          f"{'sender/server':>14}")
    rows: list[tuple[float, float, Figures, Figures]] = []
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        rendered = render(args.messages, folder)
        render_rate = args.messages / (time.perf_counter() - started)
        paths = {}
        enqueue_rate = 0.0
        for path, per_message in (("batch", False), ("single", True)):
            url = fresh_warehouse(folder, f"{path}-{run}")
            started = time.perf_counter()
            enqueue_all(url, rendered)
            enqueue_rate = args.messages / (time.perf_counter() - started)
            transport = session_transport(bench.open_session, SENDER, per_message=per_message,
                                          sessions=rules.sessions)
            paths[path] = bench.deliver(url, transport, rules, args.messages)
            engine_for(url).dispose()
        rows.append((render_rate, enqueue_rate, paths["batch"], paths["single"]))
        print(_row(str(run), *rows[-1]))
    med = (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows),
           *(Figures(*(statistics.median(getattr(r[i], f) for r in rows)
                       for f in ("rate", "sender_ms", "server_ms"))) for i in (2, 3)))
    print(_row("med", *med))
    batch, single = med[2], med[3]
    print(f"median: batch over one connection {batch.rate:,.0f} msg/s (target >= 300), one "
          f"connection per message {single.rate:,.0f} msg/s: {batch.rate / single.rate:.1f}x "
          f"(target >= 5x); CPU per message, sender + server: batch "
          f"{batch.sender_ms + batch.server_ms:.2f} ms, per connection "
          f"{single.sender_ms + single.server_ms:.2f} ms")

    if args.smtp_hook:
        extra: dict[str, Any] = {"from_email": SENDER, "disable_ssl": True,
                                 "disable_tls": not args.tls, "timeout": 30, "retry_limit": 0}
        if args.tls:
            extra["ssl_context"] = "none"  # the throw-away certificate is not in any trust store
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra})
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
        from cx_airflow.mailer import smtp_transport

        url = fresh_warehouse(folder, "smtp-hook")
        enqueue_all(url, render(args.messages, folder))
        hook = bench.deliver(url, smtp_transport(), rules, args.messages)
        print(f"SmtpHook transport (cx_airflow.mailer), batch path: {hook.rate:,.0f} msg/s, "
              f"CPU {hook.sender_ms:.2f} / {hook.server_ms:.2f} ms per message")
    stop.set()
    server.join(30)


def _row(label: str, render_rate: float, enqueue_rate: float, batch: Figures,
         single: Figures) -> str:
    """One printed line of the results table."""
    return (f"{label:>4}{render_rate:>10,.0f}{enqueue_rate:>11,.0f}  {batch.rate:>13,.0f}"
            f"{f'{batch.sender_ms:.2f}/{batch.server_ms:.2f}':>14}  {single.rate:>16,.0f}"
            f"{f'{single.sender_ms:.2f}/{single.server_ms:.2f}':>14}"
            f"{batch.rate / single.rate:>7.1f}")


if __name__ == "__main__":
    main()
