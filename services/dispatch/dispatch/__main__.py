import sys

from gridlink.runtime.cli import main

sys.exit(main("dispatch", "dispatch.entrypoints.service:DispatchService"))
