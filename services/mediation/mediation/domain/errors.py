"""What can go wrong in mediation, in the domain's words. The service maps each to a precise 4xx."""


class MediationError(ValueError):
    """Base of mediation's domain errors."""


class DisputeNotFound(MediationError):
    pass


class SessionNotFound(MediationError):
    pass


class UnknownChannel(MediationError):
    pass


class UnknownReference(MediationError):
    """A room, mediator, party or partner the district's data does not know."""


class InvalidRequest(MediationError):
    """A field is missing or malformed."""


class NotEligible(MediationError):
    """The dispute does not meet the channel's eligibility rules."""


class WrongState(MediationError):
    """The dispute (or session) is not in a state that allows this step."""


class ExtensionRefused(MediationError):
    """An extension beyond the channel's cap, or without the approval the channel requires."""


class BookingConflict(MediationError):
    """The room or the mediator is already booked for part of that time."""


class ConsentMissing(MediationError):
    """An online session needs every party's recorded consent."""


class WindowClosed(MediationError):
    """A time window the law sets has passed (e.g. judicial confirmation within 30 days of the agreement)."""


class AccessDenied(MediationError):
    """The reader may not see this confidential record."""


class NotFromThisPartner(MediationError):
    """A partner answered for a referral that is not, or no longer, its own."""
