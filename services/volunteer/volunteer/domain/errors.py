"""What can go wrong in volunteer, in the domain's words."""


class VolunteerError(ValueError):
    """Base of volunteer's domain errors."""


class OrderNotFound(VolunteerError):
    pass
