"""Root of the test suite. eventlet must patch the standard library before anything else imports it, and
psycopg2 must be made green, or tests that do network I/O block the hub."""

import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()
