"""Kinds of files pages link to: their extensions, content types and largest download.

Signals declare the file kinds they read (``SignalType.file_kinds``); a crawl fetches a
linked file only when some signal that reads files reads its kind, within that kind's
download cap (see :mod:`matching.registry`). Kinds no such signal reads (torrents,
playlists, magnet links and cloud-drive shares, which the link signal reads as links on a
page) are still recognised, and counted by crawls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

MB = 1024 * 1024


@dataclass(frozen=True)
class FileKind:
    """Files of one kind: what their links end in, how they are served, the largest fetched."""

    name: str
    extensions: frozenset[str] = frozenset()
    content_types: tuple[str, ...] = ()  # media types; one ending in "/" is a whole family
    max_download_bytes: int = 0

    def serves(self, content_type: str) -> bool:
        """Whether a response of ``content_type`` is a file of this kind.

        >>> IMAGE.serves("image/webp; q=1"), SOFTWARE.serves("text/html")
        (True, False)
        """
        media_type = content_type.split(";")[0].strip().lower()
        return any(media_type == t or (t.endswith("/") and media_type.startswith(t))
                   for t in self.content_types)


IMAGE = FileKind("image", frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif",
                                     ".tiff", ".avif"}), ("image/",), 32 * MB)
VIDEO = FileKind("video", frozenset({".mp4", ".mkv", ".avi", ".mov", ".wmv", ".flv", ".webm",
                                     ".m4v", ".ts", ".rmvb"}), ("video/",), 256 * MB)
AUDIO = FileKind("audio", frozenset({".mp3", ".flac", ".wav", ".ogg", ".oga", ".opus", ".m4a",
                                     ".aac", ".wma", ".ape", ".aiff", ".alac"}),
                 ("audio/",), 256 * MB)
ARCHIVE = FileKind("archive", frozenset({".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2",
                                         ".xz", ".iso"}),
                   ("application/zip", "application/x-zip-compressed", "application/vnd.rar",
                    "application/x-rar-compressed", "application/x-7z-compressed",
                    "application/x-tar", "application/gzip", "application/x-bzip2",
                    "application/x-xz", "application/x-iso9660-image"), 512 * MB)
SOFTWARE = FileKind("software", frozenset({".exe", ".msi", ".dmg", ".pkg", ".apk", ".ipa",
                                           ".deb", ".rpm", ".appimage"}),
                    ("application/x-msdownload", "application/vnd.microsoft.portable-executable",
                     "application/x-msi", "application/vnd.android.package-archive",
                     "application/x-apple-diskimage", "application/vnd.debian.binary-package",
                     "application/x-rpm", "application/x-executable"), 512 * MB)
TORRENT = FileKind("torrent", frozenset({".torrent"}), ("application/x-bittorrent",))
PLAYLIST = FileKind("playlist", frozenset({".m3u8", ".m3u", ".mpd"}),
                    ("application/vnd.apple.mpegurl", "application/x-mpegurl",
                     "audio/mpegurl", "audio/x-mpegurl", "application/dash+xml"))
MAGNET = FileKind("magnet")  # recognised by the scheme
CLOUD = FileKind("cloud")  # recognised by the host: see CLOUD_DRIVE_HOSTS
# Every kind a crawl recognises, most specific content types first (playlists before audio).
FILE_KINDS = (IMAGE, VIDEO, PLAYLIST, AUDIO, ARCHIVE, SOFTWARE, TORRENT, MAGNET, CLOUD)
CLOUD_DRIVE_HOSTS = (
    "pan.baidu.com", "drive.google.com", "docs.google.com", "mega.nz", "mega.co.nz",
    "mediafire.com", "1drv.ms", "onedrive.live.com", "dropbox.com", "aliyundrive.com",
    "alipan.com", "pan.quark.cn", "lanzou.com", "lanzoui.com", "lanzoux.com", "115.com",
    "weiyun.com", "cloud.189.cn", "pan.xunlei.com", "terabox.com", "disk.yandex.ru",
)


def url_suffix(url: str) -> str:
    """The lower-case extension of a URL's path ("" if none)."""
    return PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()


def file_kind(url: str) -> str | None:
    """What a link points to, if it is a file a pirate page offers rather than a page.

    >>> file_kind("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a")
    'magnet'
    >>> file_kind("https://cdn.example/Film.2026.1080p.MKV?token=1")
    'video'
    >>> file_kind("https://cdn.example/ost/01.flac")
    'audio'
    >>> file_kind("https://pan.baidu.com/s/1AbCdEf")
    'cloud'
    >>> file_kind("https://site.example/films/7.html") is None
    True
    """
    if url.lower().startswith("magnet:"):
        return MAGNET.name
    host = (urlsplit(url).hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in CLOUD_DRIVE_HOSTS):
        return CLOUD.name
    return kind_of_file_name(unquote(urlsplit(url).path))


def kind_of_file_name(name: str) -> str | None:
    """The file kind a file's name (or a URL's path) says by its extension, if any.

    >>> kind_of_file_name("Night Train.MKV"), kind_of_file_name("notes") is None
    ('video', True)
    """
    suffix = PurePosixPath(name).suffix.lower()
    return next((kind.name for kind in FILE_KINDS if suffix in kind.extensions), None)


def kind_of_content_type(content_type: str) -> str | None:
    """The file kind a response's ``Content-Type`` says it is, if any.

    >>> kind_of_content_type("video/mp4"), kind_of_content_type("audio/x-mpegurl")
    ('video', 'playlist')
    >>> kind_of_content_type("text/html; charset=utf-8") is None
    True
    """
    return next((kind.name for kind in FILE_KINDS if kind.serves(content_type)), None)
