"""What can go wrong in dispatch, in the domain's words."""


class DispatchError(ValueError):
    """Base of dispatch's domain errors."""


class CaseNotFound(DispatchError):
    pass


class NoHandler(DispatchError):
    """The reference data names nobody to handle cases on this grid."""


class UnknownUnit(DispatchError):
    """A tier, department or unit code that the organisation does not have."""


class CannotEscalate(DispatchError):
    """The case is already at the top of its line."""


class InvalidTransition(DispatchError):
    """The case's state does not allow this action (e.g. resolving a case nobody accepted)."""


class NotAllowed(DispatchError):
    """The caller's role or organisation unit may not do this to this case."""


class InvalidInput(DispatchError):
    """A person sent something dispatch cannot use (a missing reason, an unknown rating)."""
