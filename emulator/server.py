"""Run the emulator with uvicorn: TLS with a throwaway CA by default, plain HTTP on request."""

from __future__ import annotations

import logging
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.datacloud.seed import seed_from
from emulator.state import EmulatorState
from emulator.tls import TlsFiles, make_tls

log = logging.getLogger("emulator")


def build(config: EmulatorConfig) -> tuple[EmulatorState, FastAPI]:
    """State + app, with the configured seed data loaded."""
    state = EmulatorState(config)
    app = create_app(state)
    if config.seed.rows > 0:
        result = seed_from(state, config.seed)
        log.info(
            "seeded %d rows over %d accounts in %.1fs", result.rows, result.accounts, result.seconds
        )
    return state, app


def uvicorn_config(
    app: FastAPI, config: EmulatorConfig, tls: TlsFiles | None, *, quiet: bool = False
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ssl_certfile=str(tls.cert_pem) if tls else None,
        ssl_keyfile=str(tls.key_pem) if tls else None,
        access_log=False,  # the emulator logs one line per request itself
        log_level="warning" if quiet else "info",
        log_config=None,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
        lifespan="off",  # models start in create_app; nothing to run at lifespan events
        limit_concurrency=None,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting so ``port=0`` gets a free port with no race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def serve(config: EmulatorConfig, tls_dir: Path | None = None) -> None:
    """Run in the foreground until interrupted (the ``serve`` command)."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    state, app = build(config)
    tls = None
    if config.tls:
        tls = make_tls(tls_dir or Path(tempfile.mkdtemp(prefix="sf-emulator-ca-")), config.host)
    sock = bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    print(f"Salesforce emulator on {scheme}://{config.host}:{port}", flush=True)
    print(f"  Data Cloud tenant host: {config.host}:{port}", flush=True)
    print(f"  admin API: {scheme}://{config.host}:{port}/__emulator__/counts", flush=True)
    if tls:
        print(f"  CA bundle: {tls.ca_pem}", flush=True)
        print(f"  export REQUESTS_CA_BUNDLE={tls.ca_pem}", flush=True)
    server = uvicorn.Server(uvicorn_config(app, config, tls))
    try:
        server.run(sockets=[sock])
    finally:
        state.close()
