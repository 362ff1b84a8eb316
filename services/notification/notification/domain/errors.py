"""What can go wrong in notification, in the domain's words."""


class NotificationError(ValueError):
    """Base of notification's domain errors."""


class UnknownTemplate(NotificationError):
    pass


class TemplateError(NotificationError):
    """A template needs a variable the event does not carry, or is malformed."""


class RulesError(NotificationError):
    """The rules file is malformed; the message names the rule."""


class MessageNotFound(NotificationError):
    pass


class InvalidPreferences(NotificationError):
    pass


class InvalidReceipt(NotificationError):
    pass
