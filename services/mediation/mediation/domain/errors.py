"""What can go wrong in mediation, in the domain's words."""


class MediationError(ValueError):
    """Base of mediation's domain errors."""


class DisputeNotFound(MediationError):
    pass
