import sys

from gridlink.runtime.cli import main

sys.exit(main("mediation", "mediation.entrypoints.service:MediationService"))
