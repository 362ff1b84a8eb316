"""What can be wrong with a report, in the domain's words."""


class IntakeError(ValueError):
    """Base of intake's domain errors."""


class UnknownCategory(IntakeError):
    pass


class UnknownAddress(IntakeError):
    pass


class OutsideDistrict(IntakeError):
    """The location is on none of the district's grids."""


class ReportNotFound(IntakeError):
    pass


class InvalidAttributes(IntakeError):
    """Open311 attribute answers that do not fit the service definition; `errors` is per attribute."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class UnknownDevice(IntakeError):
    """An IoT device that is not registered, or whose key does not match."""


class UnknownAlarmType(IntakeError):
    pass


class OutsideScope(IntakeError):
    """A staff member reported on a grid outside their organisation unit."""


class TrackingCodeTaken(IntakeError):
    """The tracking code drawn for a new report is already another's: nothing was stored, draw again."""
