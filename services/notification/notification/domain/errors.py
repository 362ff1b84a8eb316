"""What can go wrong in notification, in the domain's words."""


class NotificationError(ValueError):
    """Base of notification's domain errors."""


class UnknownTemplate(NotificationError):
    pass
