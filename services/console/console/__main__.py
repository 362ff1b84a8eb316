import sys

from gridlink.runtime.cli import main

sys.exit(main("console", "console.entrypoints.service:ConsoleService"))
