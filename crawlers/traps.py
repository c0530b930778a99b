"""Crawler-trap guards a spider applies before following a link (pure: no Scrapy, no database).

Hostile or badly built sites generate endless URLs: a session id in every link, paths that
nest forever (``/a/a/a/...``), ever-growing URLs and calendars that link each day to the
next. The spider first applies :func:`canonical_url` (session ids out, so one page is one URL;
:func:`had_session_id` lets it count how often that happened), then asks a per-run
:class:`TrapGuard` whether to follow. A refusal carries one short reason from
:data:`REASONS`; :meth:`TrapGuard.reported` and :attr:`TrapGuard.samples` go in the run's
report.

URLs are handled as strings (no parsing round trip), so whatever is not removed stays
byte-identical.
"""

from __future__ import annotations

import re
from collections import Counter

REASONS = (
    "too_many_segments", "repeated_segments", "url_too_long", "calendar", "pattern_cap",
)
# Reported (not refused by the guard) when a crawl's page cap runs out: a link space holding
# at least this share of the crawl's pages, such as ``/page/1 -> /page/2 -> ...``.
CAP_EXHAUSTED = "exhausted_page_cap"
CAP_EXHAUSTED_SHARE = 0.5
MAX_SAMPLES = 20
MAX_SAMPLE_URL_CHARS = 512

# Query and path parameter names (lower-cased) that always carry a session id ...
SESSION_NAMES = frozenset(
    {"jsessionid", "phpsessid", "sessionid", "session_id", "session", "cfid", "cftoken"}
)
SESSION_PREFIXES = ("aspsessionid",)  # classic ASP: ASPSESSIONIDQSDTRCBS=...
# ... and names that are only a session id when the value looks like a token (``?s=batman``
# is a WordPress search, ``?sid=3`` may be a section).
TOKEN_GATED_NAMES = frozenset({"s", "sid"})

_TOKEN = re.compile(r"[A-Za-z0-9]{16,}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
_LETTER_DIGIT_SWITCH = re.compile(r"(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_PATH_PARAM = re.compile(r";([^;=/]*)=([^;/]*)")
# ASP.NET cookieless state: a whole segment like (S(abc)) or (X(1)S(abc)A(def)F(ghi)).
_ASPNET_SEGMENT = re.compile(r"/\((?:[A-Za-z]\([^()/]*\))+\)(?=/|$)")
_DIGITS = re.compile(r"[0-9]+")
# A year followed by a month (2026/11, 2026-11-21, 202611) or a date-ish query parameter.
_CALENDAR = re.compile(
    r"(?:19|20)[0-9]{2}[-/_.]?(?:0?[1-9]|1[0-2])(?![0-9]{3})|[?&;](?:date|day|month|year|cal)=",
    re.IGNORECASE)
DIGIT_PLACEHOLDER = "{n}"


def looks_like_token(value: str) -> bool:
    """Whether a parameter value looks like a session token rather than a word or a number.

    At least 16 letters/digits that are either all digits or switch between letters and
    digits at least three times (random ids do; words like ``spiderman2homecoming`` don't),
    or a UUID.

    >>> looks_like_token("batman")
    False
    >>> looks_like_token("spiderman2homecoming")
    False
    >>> looks_like_token("9f86d081884c7d659a2feaa0c55ad015")
    True
    >>> looks_like_token("550e8400-e29b-41d4-a716-446655440000")
    True
    """
    if _UUID.fullmatch(value):
        return True
    if not _TOKEN.fullmatch(value):
        return False
    return value.isdigit() or len(_LETTER_DIGIT_SWITCH.findall(value)) >= 3


def _is_session_param(name: str, value: str) -> bool:
    name = name.lower()
    if name in SESSION_NAMES or name.startswith(SESSION_PREFIXES):
        return True
    return name in TOKEN_GATED_NAMES and looks_like_token(value)


def _is_session_pair(pair: str) -> bool:
    name, equals, value = pair.partition("=")
    return bool(equals) and _is_session_param(name, value)


def _split(url: str) -> tuple[str, str, str, str]:
    """``url`` as (scheme and authority, path, query, fragment) without parsing or decoding.

    The query and fragment keep their ``?`` and ``#`` (empty when absent).
    """
    hash_at = url.find("#")
    rest, fragment = (url, "") if hash_at < 0 else (url[:hash_at], url[hash_at:])
    question_at = rest.find("?")
    rest, query = (rest, "") if question_at < 0 else (rest[:question_at], rest[question_at:])
    scheme_at = rest.find("://")
    if scheme_at >= 0:
        authority_at = scheme_at + 3
    elif rest.startswith("//"):
        authority_at = 2
    else:
        return "", rest, query, fragment
    slash_at = rest.find("/", authority_at)
    if slash_at < 0:
        return rest, "", query, fragment
    return rest[:slash_at], rest[slash_at:], query, fragment


def _strip_session_ids(url: str) -> tuple[str, bool]:
    prefix, path, query, _fragment = _split(url)
    removed = False

    def drop_path_param(match: re.Match[str]) -> str:
        nonlocal removed
        if _is_session_param(match.group(1), match.group(2)):
            removed = True
            return ""
        return match.group(0)

    new_path = _PATH_PARAM.sub(drop_path_param, path)
    new_path, aspnet = _ASPNET_SEGMENT.subn("", new_path)
    if aspnet:
        removed = True
        if not new_path:
            new_path = "/"
    if query:
        pairs = query[1:].split("&")
        kept = [pair for pair in pairs if not _is_session_pair(pair)]
        if len(kept) < len(pairs):
            removed = True
            query = "?" + "&".join(kept) if kept else ""
    return prefix + new_path + query, removed


def canonical_url(url: str) -> str:
    """``url`` without session ids and without its fragment; everything else is kept as is.

    Removes query parameters that carry a session id (``jsessionid``, ``phpsessid``,
    ``sessionid``, ``session_id``, ``session``, ``aspsessionid*``, ``cfid``, ``cftoken``; and
    ``s``/``sid`` when the value :func:`looks_like_token`), the same as ``;name=value`` path
    parameters, and ASP.NET cookieless ``/(S(...))/`` path segments. Names are matched
    case-insensitively; the remaining parameters keep their order and spelling.

    >>> canonical_url("http://a.test/films;jsessionid=0A1B2C3D?page=2#top")
    'http://a.test/films?page=2'
    >>> canonical_url("http://a.test/watch?id=7&PHPSESSID=k3j4h5g6f7d8s9a0&lang=zh")
    'http://a.test/watch?id=7&lang=zh'
    >>> canonical_url("http://a.test/(S(lit3py55t21z5v55vlm25s55))/default.aspx?x=1")
    'http://a.test/default.aspx?x=1'
    >>> canonical_url("http://a.test/?s=batman")
    'http://a.test/?s=batman'
    >>> canonical_url("http://a.test/list?s=9f86d081884c7d659a2feaa0c55ad015")
    'http://a.test/list'
    """
    return _strip_session_ids(url)[0]


def had_session_id(url: str) -> bool:
    """Whether :func:`canonical_url` removes a session id from ``url`` (not just a fragment).

    >>> had_session_id("http://a.test/x;JSESSIONID=abc")
    True
    >>> had_session_id("http://a.test/x?s=batman#comments")
    False
    """
    return _strip_session_ids(url)[1]


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _host(prefix: str) -> str:
    scheme_at = prefix.find("://")
    authority = prefix[scheme_at + 3 :] if scheme_at >= 0 else prefix.removeprefix("//")
    return authority.rpartition("@")[2].lower()


class TrapGuard:
    """Per-run caps on the URLs a spider follows; :meth:`check` says whether to follow one.

    ``max_segments``: most path segments a URL may have. ``max_repeats``: most times one
    path segment may appear (``/a/a/a/a`` and ``/x/y/x/y/x/y/x/y`` exceed 3).
    ``max_url_length``: longest URL in characters. URLs of one host that differ only in
    their digits share a pattern (every run of digits is one placeholder, so
    ``/cal/2026/11/21`` and ``/cal/2027/1/2`` share one, as do ``?page=2`` and
    ``?page=12345``). ``max_per_calendar``: most distinct URLs of a pattern that holds a date
    (an endless "next day" calendar ends there). ``max_per_pattern``: most of any other
    pattern (numbered galleries are real content, so this cap is much higher).

    Pass URLs through :func:`canonical_url` first. The guard keeps the URLs it allowed, so
    asking again about one of them is free.

    >>> guard = TrapGuard(max_per_calendar=2)
    >>> [guard.check(f"http://a.test/cal?date=2026-11-{day}") for day in (20, 21, 20, 22)]
    [None, None, None, 'calendar']
    >>> guard.check("http://a.test/a/a/a/a/")
    'repeated_segments'
    >>> guard.reported()
    {'repeated_segments': 1, 'calendar': 1}
    >>> guard.samples[0]
    {'reason': 'calendar', 'url': 'http://a.test/cal?date=2026-11-22'}
    """

    def __init__(
        self,
        *,
        max_segments: int = 20,
        max_repeats: int = 3,
        max_url_length: int = 2048,
        max_per_calendar: int = 50,
        max_per_pattern: int = 5000,
    ) -> None:
        caps = {
            "max_segments": max_segments,
            "max_repeats": max_repeats,
            "max_url_length": max_url_length,
            "max_per_calendar": max_per_calendar,
            "max_per_pattern": max_per_pattern,
        }
        for name, value in caps.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        self.max_segments = max_segments
        self.max_repeats = max_repeats
        self.max_url_length = max_url_length
        self.max_per_calendar = max_per_calendar
        self.max_per_pattern = max_per_pattern
        self.samples: list[dict[str, str]] = []
        self.allowed = 0
        self._refused: Counter[str] = Counter()
        self._by_pattern: dict[tuple[str, str], set[str]] = {}

    had_session_id = staticmethod(had_session_id)

    def check(self, url: str) -> str | None:
        """None to follow ``url`` (recorded as seen), else the reason, one of :data:`REASONS`.

        Every refusal is counted, also a repeated one; an allowed URL counts once toward its
        pattern however often it is checked.
        """
        reason = self._reason(url)
        if reason is None:
            return None
        self._refused[reason] += 1
        if len(self.samples) < MAX_SAMPLES:
            sample_url = url
            if len(url) > MAX_SAMPLE_URL_CHARS:
                sample_url = url[: MAX_SAMPLE_URL_CHARS - 3] + "..."
            sample = {"reason": reason, "url": sample_url}
            if sample not in self.samples:
                self.samples.append(sample)
        return reason

    def _reason(self, url: str) -> str | None:
        if len(url) > self.max_url_length:
            return "url_too_long"
        prefix, path, query, _fragment = _split(url)
        segments = _segments(path)
        if len(segments) > self.max_segments:
            return "too_many_segments"
        if segments and max(Counter(segments).values()) > self.max_repeats:
            return "repeated_segments"
        key = (_host(prefix), _DIGITS.sub(DIGIT_PLACEHOLDER, path + query))
        seen = self._by_pattern.setdefault(key, set())
        if url in seen:
            return None
        if _CALENDAR.search(path + query):
            if len(seen) >= self.max_per_calendar:
                return "calendar"
        elif len(seen) >= self.max_per_pattern:
            return "pattern_cap"
        seen.add(url)
        self.allowed += 1
        return None

    def crowded_patterns(self, share: float = CAP_EXHAUSTED_SHARE) -> list[tuple[str, int]]:
        """Link spaces holding at least ``share`` of the URLs allowed so far: (the pattern,
        as host and path with ``{n}`` for each run of digits, and its URL count), largest
        first. Asked when the page cap runs out, it names what used the cap up.

        >>> guard = TrapGuard()
        >>> for n in range(1, 9):
        ...     _ = guard.check(f"http://a.test/page/{n}")
        >>> _ = guard.check("http://a.test/about.html")
        >>> guard.crowded_patterns()
        [('a.test/page/{n}', 8)]
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be more than 0 and at most 1, not {share}")
        crowded = [(host + pattern, len(urls)) for (host, pattern), urls in self._by_pattern.items()
                   if self.allowed and len(urls) >= share * self.allowed]
        return sorted(crowded, key=lambda item: -item[1])

    def reported(self) -> dict[str, int]:
        """Refusals so far per reason (only reasons that occurred), in :data:`REASONS` order."""
        return {reason: self._refused[reason] for reason in REASONS if self._refused[reason]}
