"""What a user can get wrong, or a situation they can act on: :class:`SwordnetError`.

Each error carries its one-line message for the user and the HTTP status the API answers
with. The command line prints the message as one ``Error:`` line and exits 1; the web layer
answers with the status and the message as ``detail`` (an error page on the console).
Any other exception is a bug, and shows as one: a traceback, or a 500.

Modules subclass the error that says what went wrong (``RegistrationError(BadInput)``), so
callers catch one type and the status follows from the meaning.

>>> NotFound("no case with id 7").status, str(NotFound("no case with id 7"))
(404, 'no case with id 7')
"""

from __future__ import annotations

from typing import ClassVar


class SwordnetError(Exception):
    """A user's mistake or a situation they can act on; ``str()`` is the one-line message."""

    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (e.g. ``Retry-After``)."""
        return {}


class BadRequest(SwordnetError):
    """A request that makes no sense as asked (an unknown sort field, a wrong option)."""

    status = 400


class BadInput(SwordnetError, ValueError):
    """Content or a value that cannot be used as given (also a ValueError, for the parsers'
    callers that test a value with ``except ValueError``)."""

    status = 422


class Forbidden(SwordnetError):
    """The caller's role may not do this at all."""

    status = 403


class NotFound(SwordnetError):
    """No such object, or not one the caller may see."""

    status = 404


class Conflict(SwordnetError):
    """The object is not in a state that allows this (already decided, closed, in use)."""

    status = 409


class TooLarge(SwordnetError):
    """Content larger than its kind allows."""

    status = 413


class TooMany(SwordnetError):
    """The caller used up their share for now; ``retry_after`` seconds to wait."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(SwordnetError):
    """Something Swordnet needs cannot be reached or used (the database, a scrapyd node,
    a setting)."""

    status = 503
