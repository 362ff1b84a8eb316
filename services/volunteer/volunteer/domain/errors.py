"""What can go wrong in volunteer, in the domain's words."""


class VolunteerError(ValueError):
    """Base of volunteer's domain errors."""


class OrderNotFound(VolunteerError):
    pass


class UnknownVolunteer(VolunteerError):
    pass


class UnknownService(VolunteerError):
    pass


class UnknownReward(VolunteerError):
    pass


class UnknownTeam(VolunteerError):
    pass


class NotAllowed(VolunteerError):
    """The person may not act on this order (not theirs, outside their scope, wrong resident token)."""


class InvalidTransition(VolunteerError):
    """The order is not in a state that allows this step."""


class NotEligible(VolunteerError):
    """The volunteer cannot take this order: no such skill, unavailable, fully loaded, or excluded."""


class OrderTaken(VolunteerError):
    """Someone else changed the order first (another volunteer won the claim, or a concurrent step)."""


class InsufficientPoints(VolunteerError):
    pass


class OutOfStock(VolunteerError):
    pass


class RequestReused(VolunteerError):
    """An idempotency key was sent again with a different request."""


class UnbalancedTransaction(VolunteerError):
    """A ledger transaction whose postings do not sum to zero per unit: a programming error, never a person's."""
