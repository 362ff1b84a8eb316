import sys

from gridlink.runtime.cli import main

sys.exit(main("intake", "intake.entrypoints.service:IntakeService"))
