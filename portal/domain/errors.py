"""Errors raised by the domain for input it refuses."""


class InvalidInput(ValueError):
    """A value a person typed or a file carried is not acceptable; nothing was changed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
