"""The command line every service shares: `python -m <service> run|migrate|settings`.

Kept free of top-level nameko and eventlet imports, because eventlet must patch the standard library before
anything else imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def main(service: str, service_class: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {service}", description=f"GridLink {service} service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service (migrate first)")
    sub.add_parser("migrate", help="upgrade the service's database to the latest schema")
    sub.add_parser("settings", help="print the effective settings")
    args = parser.parse_args(argv)

    if args.command == "run":
        import warnings

        # eventlet announces its bugfix-only status on import; the project knows (see docs/architecture.md).
        warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
        import eventlet

        eventlet.monkey_patch()

    settings = importlib.import_module(f"{service}.config").settings()

    if args.command == "settings":
        for key, value in sorted(vars(settings).items()):
            print(f"{key} = {value}")
        return 0
    if args.command == "migrate":
        from gridlink.runtime.migrations import upgrade

        migrations = Path(importlib.import_module(f"{service}.adapters").__file__).parent / "migrations"
        upgrade(migrations, settings.database_url)
        print(f"{service}: database at head ({settings.database_url.split('@')[-1]})")
        return 0

    from gridlink.runtime.runner import run

    run(_load(service_class), settings)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
