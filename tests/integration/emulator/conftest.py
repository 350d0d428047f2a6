"""Fixtures for emulator integration tests: one real HTTPS emulator per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.config import EmulatorConfig
from emulator.testing import EmulatorServer

USERNAME = "integration@example.com"
PASSWORD = "s3cret"
SECURITY_TOKEN = "TOKEN123"
CLIENT_ID = "3MVG9emulator"
CLIENT_SECRET = "consumer-secret"


@pytest.fixture(scope="module")
def jwt_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def emulator(jwt_private_key: str) -> Iterator[EmulatorServer]:
    """HTTPS emulator with one user, one connected app, a JWT key and 2,000 Data Cloud rows."""
    private = serialization.load_pem_private_key(jwt_private_key.encode(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = EmulatorConfig(
        time_scale=0.0,
        users={USERNAME: PASSWORD + SECURITY_TOKEN},
        connected_apps={CLIENT_ID: CLIENT_SECRET},
        jwt_public_key_pem=public.decode(),
        query_batch_max_rows=500,
    )
    with EmulatorServer(config, rows=2000, accounts=20, seed=11) as server:
        yield server
