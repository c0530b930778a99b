"""Plain one-line reasons for fetches that got no response, as runs and tips record them.

Twisted's failures read like ``[<twisted.python.failure.Failure twisted.internet.error.
ConnectionLost: ...>]``: internals, and, told apart, a map of what listens where. A failure
is recorded as a short kind and a sentence that names neither exception classes nor objects.
"""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived
from twisted.web.client import PartialDownloadError

from crawlers.outbound import RefusedRequest
from swordnet.core.outbound import PREFIX

# (exception types, kind, reason); the first match wins.
# Scrapy wraps Twisted's exceptions in its own (scrapy.utils._download_handlers); both kinds.
_REASONS: list[tuple[tuple[type[BaseException], ...], str, str]] = [
    ((CannotResolveHostError, error.DNSLookupError, error.UnknownHostError), "dns_error",
     "the host name was not found"),
    ((DownloadTimeoutError, error.TimeoutError, error.TCPTimedOutError,
      TimeoutError, CancelledError), "timeout", "no answer in time"),
    ((DownloadConnectionRefusedError, error.ConnectionRefusedError, error.NoRouteError,
      error.ConnectError), "connect_error", "could not connect to the server"),
    ((DownloadFailedError, ResponseDataLossError, ResponseNeverReceived, ResponseFailed,
      PartialDownloadError, error.ConnectionLost, error.ConnectionDone), "no_response",
     "the server sent no complete HTTP response"),
]
MAX_MESSAGE = 200


def failure_reason(failure: Failure, size_cap: int | None = None) -> tuple[str, str]:
    """``(kind, one-line reason)`` for a failed request; ``size_cap`` is the request's
    download size cap in bytes, if known.

    >>> failure_reason(Failure(error.ConnectionRefusedError("111: Connection refused")))
    ('connect_error', 'could not connect to the server')
    >>> failure_reason(Failure(RefusedRequest("refused: address not allowed (loopback)")))
    ('refused', 'address not allowed (loopback)')
    >>> failure_reason(Failure(DownloadCancelledError()), 1024)
    ('too_large', 'body larger than 1024 bytes cut off (no Content-Length sent)')
    """
    exc = failure.value
    if isinstance(exc, RefusedRequest):
        return "refused", str(exc).removeprefix(PREFIX)
    if isinstance(exc, DownloadCancelledError):
        # Scrapy cancels a body over its size cap: with a Content-Length it says so, without
        # one (a body that grows past the cap as it arrives) it says nothing at all.
        cap = f"{size_cap} bytes" if size_cap else "the size cap"
        if failure.getErrorMessage():
            return "too_large", f"body larger than {cap} (its Content-Length)"
        return "too_large", f"body larger than {cap} cut off (no Content-Length sent)"
    for types, kind, reason in _REASONS:
        if isinstance(exc, types):
            return kind, reason
    message = failure.getErrorMessage() if isinstance(exc, IgnoreRequest) else ""
    line = " ".join(message.split())[:MAX_MESSAGE] or "the request failed"
    return type(exc).__name__, line
