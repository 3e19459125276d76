"""The one exception type users see.

Every message says what was received, what was expected and how to fix it, on one line.
The CLI prints it without a traceback and exits with status 2.
"""


class PhendiffError(ValueError):
    """Bad input or state that the user can fix; the message is a single line."""
