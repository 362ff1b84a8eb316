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
