"""Where an executable's own bytes end: ELF and PE headers, segments and sections.

Anything after that end is appended data (an overlay: an installer's payload, a signature, a
repacker's addition). The software signals also query an executable without its overlay, so
a binary that was only appended to still matches exactly.
"""

from __future__ import annotations

import struct


def _elf_end(content: bytes) -> int:
    """Where an ELF file's headers, segments and sections end."""
    wide, order = content[4] == 2, "<" if content[5] == 1 else ">"
    if wide:
        phoff, shoff = struct.unpack_from(order + "QQ", content, 0x20)
        phsize, phnum, shsize, shnum = struct.unpack_from(order + "HHHH", content, 0x36)
        segment, section = order + "8xQ16xQ", order + "4xI16xQQ"
    else:
        phoff, shoff = struct.unpack_from(order + "II", content, 0x1C)
        phsize, phnum, shsize, shnum = struct.unpack_from(order + "HHHH", content, 0x2A)
        segment, section = order + "4xI8xI", order + "4xI8xII"
    end = max(64 if wide else 52, phoff + phnum * phsize, shoff + shnum * shsize)
    for at in range(phnum if phoff else 0):
        offset, size = struct.unpack_from(segment, content, phoff + at * phsize)
        end = max(end, offset + size)
    # The section table is usually last: a member's first chunk does not reach it.
    for at in range(shnum if shoff and shoff + shnum * shsize <= len(content) else 0):
        kind, offset, size = struct.unpack_from(section, content, shoff + at * shsize)
        if kind != 8:  # SHT_NOBITS takes no room in the file
            end = max(end, offset + size)
    return end


def _pe_end(content: bytes) -> int:
    """Where a PE file's headers and sections end (its signature, if any, is past it)."""
    (header,) = struct.unpack_from("<I", content, 0x3C)
    if content[header : header + 4] != b"PE\0\0":
        raise ValueError("not a PE file")
    sections, optional = struct.unpack_from("<H12xH", content, header + 6)
    table = header + 24 + optional
    end = table + 40 * sections
    for at in range(min(sections, 96)):
        size, offset = struct.unpack_from("<II", content, table + 40 * at + 16)
        if size:
            end = max(end, offset + size)
    return end


def image_end(content: bytes, *, head: bool = False) -> int | None:
    """Where an ELF or PE executable's own bytes end (anything after is appended data, an
    overlay), or None for other content and malformed headers.

    ``head``: ``content`` is only the start of the file (a member's first chunk): the ELF
    section table is not read, and the end may lie beyond ``content``.
    """
    try:
        if content[:4] == b"\x7fELF" and content[4] in (1, 2) and content[5] in (1, 2):
            end = _elf_end(content)
        elif content[:2] == b"MZ":
            end = _pe_end(content)
        else:
            return None
    except (struct.error, ValueError):
        return None
    return end if head or end <= len(content) else None
