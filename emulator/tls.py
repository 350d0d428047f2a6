"""A throwaway certificate authority for HTTPS: made at start, never reused, never committed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: Path  # give to clients: REQUESTS_CA_BUNDLE / verify=
    cert_pem: Path  # server certificate chain
    key_pem: Path


def make_tls(directory: Path, host: str) -> TlsFiles:
    """Create a CA and a server certificate for ``host`` (plus localhost names) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Salesforce emulator throwaway CA")
    names = list(
        dict.fromkeys([*SERVER_NAMES, host] if host not in ("0.0.0.0", "::") else SERVER_NAMES)
    )
    server = ca.issue_cert(*names)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.private_key_pem.write_to_path(str(files.key_pem))
    with files.cert_pem.open("wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    files.key_pem.chmod(0o600)
    return files
