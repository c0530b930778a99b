"""A page's template: a 64-bit SimHash of its markup's skeleton, for telling that two sites
serve their pages from the same template (a mirror under another name).

The skeleton is the sequence of elements (tag and sorted classes) in document order; text,
attributes other than ``class``, links and images are left out, so two pages of one template
with different films on them hash alike. Runs of three elements are hashed (BLAKE2b) and
combined bit by bit (SimHash); nearby skeletons give hashes a few bits apart.
"""

from __future__ import annotations

from hashlib import blake2b

import lxml.html
from lxml import etree

BITS = 64
SHINGLE = 3
# At most this many differing bits count as the same template. Not calibrated on a
# benchmark: a mirror proposal is a suggestion that staff check, never a link by itself.
SAME_TEMPLATE_BITS = 3
MIN_ELEMENTS = 8  # fewer elements than this say nothing about a template


def skeleton(html: str) -> list[str]:
    """The page's elements as ``tag.class.class``, in document order.

    >>> skeleton('<div class="b a"><p>x</p><img src="1.jpg"></div>')
    ['html', 'body', 'div.a.b', 'p', 'img']
    """
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    return [".".join([str(el.tag).lower(), *sorted(str(el.get("class") or "").split())])
            for el in root.iter() if isinstance(el.tag, str)]


def template_hash(html: str) -> str | None:
    """The page's template as 16 hex digits, or None for a page with too little markup.

    >>> page = "<ul class='films'>" + "<li class='film'><a>TITLE</a></li>" * 4 + "</ul>"
    >>> template_hash(page.replace("TITLE", "A")) == template_hash(page.replace("TITLE", "B"))
    True
    >>> template_hash("<p>hello</p>") is None
    True
    """
    elements = skeleton(html)
    if len(elements) < MIN_ELEMENTS:
        return None
    votes = [0] * BITS
    for n in range(len(elements) - SHINGLE + 1):
        shingle = "\x1f".join(elements[n:n + SHINGLE]).encode()
        value = int.from_bytes(blake2b(shingle, digest_size=BITS // 8).digest(), "big")
        for bit in range(BITS):
            votes[bit] += 1 if value >> bit & 1 else -1
    return f"{sum(1 << bit for bit in range(BITS) if votes[bit] > 0):016x}"


def same_template(a: str, b: str) -> bool:
    """Whether two template hashes are at most :data:`SAME_TEMPLATE_BITS` bits apart.

    >>> same_template("00000000000000ff", "00000000000000f8"), same_template("0f", "f0")
    (True, False)
    """
    return bin(int(a, 16) ^ int(b, 16)).count("1") <= SAME_TEMPLATE_BITS
