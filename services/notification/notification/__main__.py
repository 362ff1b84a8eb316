import sys

from gridlink.runtime.cli import main

sys.exit(main("notification", "notification.entrypoints.service:NotificationService"))
