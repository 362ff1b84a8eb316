import sys

from gridlink.runtime.cli import main

sys.exit(main("volunteer", "volunteer.entrypoints.service:VolunteerService"))
