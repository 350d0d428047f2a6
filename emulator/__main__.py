"""``python -m emulator serve|seed``: the one documented way to run the emulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator.bulk2.config import BulkProcessingConfig
from emulator.bulk2.splitting import BATCH_SPLITS
from emulator.config import EmulatorConfig, SeedConfig
from emulator.faults import FaultProfile

#: ``serve`` options of the org's Bulk processing model: flag, ``BulkProcessingConfig`` field,
#: type, help. Defaults come from the dataclass, so they are stated once.
_BULK_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--workers", "workers", int, "Bulk worker slots"),
    ("--rate", "records_per_second_per_worker", float, "records/s per worker (0: free)"),
    ("--lock-wait", "lock_wait_seconds", float, "row-lock wait, simulated seconds"),
    ("--batch-split", "batch_split", str, "where jobs are cut: aligned, offset or sized"),
    ("--split-seed", "split_seed", int, "seed of the offset split"),
    ("--batch-max-chars", "internal_batch_max_chars", int, "characters per batch (sized split)"),
)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=0, help="Data Cloud rows to generate")
    parser.add_argument("--accounts", type=int, default=100, help="Accounts the rows reference")
    parser.add_argument("--skew", type=float, default=0.0, help="Zipf exponent of rows per account")
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    parser.add_argument(
        "--giant-share",
        type=float,
        default=0.0,
        help="share of the rows given to one Account on top of --skew (a giant parent)",
    )
    parser.add_argument("--hostile", action="store_true", help="mix in CSV/SQL-hostile values")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: temporary)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the emulator in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    serve.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    serve.add_argument("--time-scale", type=float, default=1.0, help="real/simulated time factor")
    serve.add_argument("--faults", default=None, help="fault profile: inline JSON or a file path")
    serve.add_argument("--tls-dir", type=Path, default=None, help="where to write the CA/cert")
    serve.add_argument("--api-max", type=int, default=100_000, help="daily API request allocation")
    bulk = BulkProcessingConfig()
    for flag, name, kind, text in _BULK_OPTIONS:
        serve.add_argument(
            flag,
            dest=name,
            metavar=flag[2:].upper().replace("-", "_"),
            type=kind,
            default=getattr(bulk, name),
            choices=BATCH_SPLITS if name == "batch_split" else None,
            help=text,
        )
    _add_data_options(serve)
    seed = sub.add_parser("seed", help="generate data into a SQLite file and exit")
    _add_data_options(seed)
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    config = EmulatorConfig(
        db_path=args.db,
        seed=SeedConfig(
            rows=args.rows,
            accounts=args.accounts,
            skew=args.skew,
            seed=args.seed,
            hostile=args.hostile,
            giant_share=args.giant_share,
        ),
    )
    if args.command == "serve":
        config.host = args.host
        config.port = args.port
        config.tls = not args.http
        config.time_scale = args.time_scale
        config.api_daily_request_max = args.api_max
        config.bulk = BulkProcessingConfig(
            **{name: getattr(args, name) for _, name, _, _ in _BULK_OPTIONS}
        )
        if args.faults:
            config.faults = FaultProfile.load(args.faults)
    return config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = config_from(args)
    if args.command == "serve":
        from emulator.server import serve

        serve(config, args.tls_dir)
        return 0
    if args.db is None:
        print("seed needs --db PATH (a temporary database would vanish)", file=sys.stderr)
        return 2
    from emulator.server import build

    state, _ = build(config)
    counts = {
        k: v for svc in state.services.values() for k, v in getattr(svc, "counts", dict)().items()
    }
    state.close()
    print(f"seeded {args.db}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
