"""Every knob of the emulator in one dataclass, so a test or the CLI states a whole setup at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.bulk2.config import BulkProcessingConfig
from emulator.faults import FaultProfile


@dataclass
class SeedConfig:
    """What synthetic Data Cloud data to create at start (rows=0: none)."""

    rows: int = 0
    accounts: int = 100
    skew: float = 0.0
    seed: int = 42
    hostile: bool = False
    # Share of the rows given to one Account on top of the skew (a "giant parent"; 0: none).
    giant_share: float = 0.0


@dataclass
class EmulatorConfig:
    """Configuration of one emulator instance.

    Durations that describe *simulated work* (Bulk processing, lock waits, fault latency) are
    multiplied by ``time_scale`` before the emulator really sleeps; wall-clock phenomena (session
    lifetime, rolling 24 h limits, batch-id expiry) follow the clock, which tests move with
    ``state.clock.advance()``.
    """

    host: str = "127.0.0.1"
    port: int = 8443
    tls: bool = True
    time_scale: float = 1.0
    # Public base URL the emulator advertises (instance_url). None: derived from each request.
    advertised_url: str | None = None
    db_path: Path | None = None
    org_id: str = "00DEM0000000001EAA"
    user_id: str = "005EM0000000001AAA"
    api_version: str = "59.0"
    # Auth
    session_lifetime_seconds: float = 7200.0
    datacloud_token_lifetime_seconds: int = 7200
    # Credentials the emulator accepts. Any username is accepted when ``users`` is empty.
    users: dict[str, str] = field(default_factory=dict)  # username -> password+security token
    connected_apps: dict[str, str] = field(default_factory=dict)  # client_id -> client_secret
    # PEM certificate or public key that verifies JWT bearer assertions (None: JWT grant refused).
    jwt_public_key_pem: str | None = None
    # Help article 005104785: a password-grant core token can be exchanged for a DC token once.
    strict_single_exchange: bool = False
    # Data Cloud Query V2 batch caps (docs: 8 MB; Help: 50,000 rows).
    query_batch_max_rows: int = 50_000
    query_batch_max_bytes: int = 8 * 1024 * 1024
    query_batch_ttl_seconds: float = 3600.0
    # Limits (rolling 24 h)
    api_daily_request_max: int = 100_000
    bulk_daily_batch_max: int = 15_000
    bulk_daily_record_max: int = 150_000_000
    bulk_query_daily_job_max: int = 10_000
    bulk_query_daily_storage_mb_max: int = 1_048_576
    seed: SeedConfig = field(default_factory=SeedConfig)
    faults: FaultProfile = field(default_factory=FaultProfile)
    bulk: BulkProcessingConfig = field(default_factory=BulkProcessingConfig)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the admin API (secrets omitted)."""
        from dataclasses import asdict

        data = asdict(self)
        data["db_path"] = str(self.db_path) if self.db_path else None
        data["users"] = sorted(self.users)
        data["connected_apps"] = sorted(self.connected_apps)
        data["jwt_public_key_pem"] = bool(self.jwt_public_key_pem)
        return data
