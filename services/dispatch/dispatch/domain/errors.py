"""What can go wrong in dispatch, in the domain's words."""


class DispatchError(ValueError):
    """Base of dispatch's domain errors."""


class CaseNotFound(DispatchError):
    pass


class NoHandler(DispatchError):
    """The reference data names nobody to handle cases on this grid."""
