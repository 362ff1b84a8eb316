"""Starts one service process: green PostgreSQL, JSON logs, a settled heap, then nameko's runner with graceful
SIGTERM."""

from __future__ import annotations

import logging

from gridlink.runtime.config import Settings
from gridlink.runtime.logs import configure_logging


def run(service_class: type, settings: Settings) -> None:
    if settings.database_url.startswith("postgresql"):
        # psycopg2 would otherwise block the whole eventlet hub on every query.
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
    configure_logging(settings.service, settings.log_level)
    import eventlet
    from nameko.cli.run import run as nameko_run

    from gridlink.runtime import heap

    # What the imports built now, and what the container's setup loaded once it has run (see `heap`).
    heap.settle()
    eventlet.spawn_after(heap.SETTLE_AFTER_SECONDS, heap.settle)

    logging.getLogger(__name__).info(
        "starting", extra={"fields": {"http": settings.http_address, "database": settings.database_url.split("@")[-1]}}
    )
    nameko_run([service_class], settings.nameko_config())
