"""Sound re-encoded by ffmpeg for reviewers: small mono excerpts and spectrogram pictures.

The bytes given may come from a crawl (an audio file, or a video whose soundtrack matched):
ffmpeg reads them from a private temporary file with only local-file access and only the
container formats audio and video files come in (so a crawled playlist can make it open
nothing else), within a time cap and a cap on what it writes. What comes out is always
newly encoded: Opus in Ogg, mono at 32 kbit/s (every current browser plays it, and it stays
intelligible at a quarter of an MP3's size), or a PNG spectrogram drawn from the decoded
samples. At most :data:`FFMPEG_AT_ONCE` ffmpeg processes run at a time in one process.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

OGG_MEDIA_TYPE = "audio/ogg"
OPUS_BITRATE = "32k"
# Container formats ffmpeg may read (demuxer names); nothing that refers to other files.
INPUT_FORMATS = ("mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,mp3,flac,wav,w64,aac,aiff,ape,"
                 "asf,avi,flv,mpegts,wv,rm")
FFMPEG_TIMEOUT_S = 120.0  # an excerpt or a spectrogram (two minutes of sound at most)
WHOLE_FILE_TIMEOUT_S = 600.0  # a work's sound (half an hour, or a film's four hours)
SHORT_SOUND_SECONDS = 300.0  # sound up to this long gets the short time cap
FFMPEG_AT_ONCE = 2
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
SPECTROGRAM_HEIGHT = 200
SPECTROGRAM_RATE = 16000  # up to 8 kHz drawn, whatever the file's rate: pictures compare
FFT_SIZE = 1024
DYNAMIC_RANGE_DB = 80.0
SPECTROGRAM_PX_PER_SECOND = 16  # a 30-second excerpt is 480 pixels wide
SPECTROGRAM_WIDTH = (64, 1920)


_RUNNING = threading.BoundedSemaphore(FFMPEG_AT_ONCE)


class AudioUnreadable(ValueError):
    """ffmpeg found no sound it could decode in the content (the message says why)."""


def _ffmpeg(content: bytes, before_input: list[str], output: list[str],
            timeout_s: float = FFMPEG_TIMEOUT_S) -> bytes:
    with tempfile.TemporaryDirectory(prefix="swordnet-audio-") as directory:
        source = Path(directory) / "input"
        target = Path(directory) / "output"
        source.write_bytes(content)
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                   "-protocol_whitelist", "file", "-format_whitelist", INPUT_FORMATS,
                   *before_input, "-i", str(source), "-fs", str(MAX_OUTPUT_BYTES),
                   *output, str(target)]
        try:
            with _RUNNING:
                result = subprocess.run(command, capture_output=True, timeout=timeout_s,
                                        check=False)
        except subprocess.TimeoutExpired:
            raise AudioUnreadable(f"decoding took over {timeout_s:g} s") from None
        except FileNotFoundError:
            raise AudioUnreadable("ffmpeg (Debian: ffmpeg) is not installed") from None
        made = target.read_bytes() if target.exists() else b""
        if result.returncode != 0 or not made:
            lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = lines[-1].replace(str(source), "input") if lines else "no sound decoded"
            raise AudioUnreadable(reason)
        return made


def _window(start: float, seconds: float | None) -> list[str]:
    window = ["-ss", f"{max(start, 0.0):.3f}"] if start > 0 else []
    return window + (["-t", f"{seconds:.3f}"] if seconds is not None else [])


def opus_excerpt(content: bytes, start: float = 0.0, seconds: float | None = None,
                 bitrate: str = OPUS_BITRATE) -> bytes:
    """``seconds`` of the content's sound from ``start`` (all of it if None), as mono Opus
    in Ogg at ``bitrate``; AudioUnreadable if it has no sound ffmpeg decodes (or none in
    that window)."""
    long = seconds is None or seconds > SHORT_SOUND_SECONDS
    return _ffmpeg(content, _window(start, seconds),
                   ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", "48000",
                    "-c:a", "libopus", "-b:a", bitrate, "-f", "ogg"],
                   WHOLE_FILE_TIMEOUT_S if long else FFMPEG_TIMEOUT_S)


def spectrogram_width(seconds: float) -> int:
    """How wide an excerpt's spectrogram is: proportional to its length, within bounds.

    >>> spectrogram_width(30.0), spectrogram_width(1.0), spectrogram_width(3600.0)
    (480, 64, 1920)
    """
    low, high = SPECTROGRAM_WIDTH
    return min(max(round(seconds * SPECTROGRAM_PX_PER_SECOND), low), high)


def spectrogram_png(content: bytes, start: float, seconds: float) -> bytes:
    """A PNG spectrogram (time left to right, 0 to 8 kHz bottom to top, louder is brighter)
    of ``seconds`` of the content's sound from ``start``, :func:`spectrogram_width` pixels
    wide. (ffmpeg's own ``showspectrumpic`` takes some twenty times longer.)"""
    raw = _ffmpeg(content, _window(start, seconds),
                  ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1",
                   "-ar", str(SPECTROGRAM_RATE), "-f", "f32le"])
    samples = np.frombuffer(raw, dtype="<f4")
    width = spectrogram_width(seconds)
    if len(samples) < FFT_SIZE:
        samples = np.pad(samples, (0, FFT_SIZE - len(samples)))
    offsets = np.linspace(0, len(samples) - FFT_SIZE, width).astype(np.int64)
    frames = samples[offsets[:, None] + np.arange(FFT_SIZE)] * np.hanning(FFT_SIZE)
    level = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)) + 1e-9)
    level = np.clip((level - (level.max() - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB, 0.0, 1.0)
    bins = np.linspace(0, level.shape[1] - 1, SPECTROGRAM_HEIGHT)
    rows = np.stack([np.interp(bins, np.arange(level.shape[1]), column) for column in level])
    shades = (rows.T[::-1] * 255).astype(np.uint8)  # low frequencies at the bottom
    out = io.BytesIO()
    Image.fromarray(_PALETTE[shades], "RGB").save(out, "PNG")
    return out.getvalue()


def _palette() -> np.ndarray:
    """256 colours from black through purple, red and orange to pale yellow."""
    stops = np.array([[0, 0, 0], [70, 0, 110], [200, 20, 60], [250, 140, 0], [255, 250, 190]],
                     dtype=float)
    at = np.linspace(0, len(stops) - 1, 256)
    return np.stack([np.interp(at, np.arange(len(stops)), stops[:, c]) for c in range(3)],
                    axis=1).astype(np.uint8)


_PALETTE = _palette()
