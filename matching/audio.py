"""The audio signal type: Chromaprint acoustic fingerprints, aligned by time offset.

Audio (an audio file, or a video's soundtrack) is decoded by an ``ffmpeg`` subprocess from
a temporary file, limited to local files and :data:`CONTAINERS`, downmixed to mono and
resampled to the 11,025 Hz Chromaprint works at, and streamed into Chromaprint (the
``chromaprint`` ctypes bindings of pyacoustid, over Debian's ``libchromaprint``). Decoding
is capped in audio time (a registered work: its first :data:`WORK_MAX_SECONDS`; crawled
content: its first :data:`COPY_MAX_SECONDS`, so an endless stream or a tiny file that
decodes to hours costs bounded time) and in wall-clock time (:data:`DECODE_TIMEOUT_S`).
Silence, and clips shorter than :data:`MIN_SECONDS`, are refused: nothing to fingerprint.

Chromaprint gives one 32-bit sub-fingerprint per :data:`ITEM_S` seconds (about 8 a
second). The fingerprint value is compact, versioned JSON holding Chromaprint's own
compressed encoding (what ``fpcalc`` prints): ``{"v":1,"duration":D,"chromaprint":"AQAD…"}``;
rights holders may submit one precomputed and :meth:`ChromaprintSignal.validate` checks it.
A registered work's value is version 5, which adds ``"bands"`` (as version 2 did): the
band-energy bits of :mod:`matching.audio_bands`, one frame per item (a copy is read at three
per item), ``"onsets"`` (as version 3 did): the onset envelopes of
:mod:`matching.audio_onsets`, three values per item (a copy's at five phases each),
``"pitch"`` (as version 4 did): the pitch contour of :mod:`matching.audio_pitch`, three
semitones per item (a copy's alike), and ``"wide"``: the same contour over semitones up to
about 5 kHz (a work's only). Values of versions 1 to 4 decode and match as before.

A work is registered in two views (:meth:`ChromaprintSignal.registration_variants`), each a
value of the format above: ``"original"``, and ``"speaker"``, Chromaprint's print of the same
decoded audio through :mod:`matching.audio_speaker`'s small-speaker band (a second-order
high-pass at 300 Hz), with the work's own band bits, onsets and pitch, so a copy matched
through it passes the same checks. A copy played through a phone or laptop speaker (or so
filtered) has lost the bass, which moves most of Chromaprint's bits: ``bench/
audio_recordings.py`` found 26% of real music's phone-speaker copies through the original
view alone. The match index keeps a work's best view per copy, and the hit names it
("chromaprint speaker 14 seconds, ..."). Being another variant, not another field, it needs
no new format; works registered before it gain it when registered again.

Matching (:class:`AudioIndex`) keeps every registered sub-fingerprint in a sorted array
keyed by :data:`KEY_MASK`'s 20 steadiest bits of each value, packed into a number below
2**20 that indexes a table of where each key's rows start: each copy item looks up the
registered items with its key in two reads of that table (keys shared by more than
:data:`MAX_ROWS_PER_ITEM` rows say nothing and are skipped), and each pair votes for its
offset (work item minus copy item) in one-second bins. The best-voted offsets are then
verified over the raw frames, like Chromaprint's own ``FingerprintMatcher`` aligns two
prints and then reads bit errors at that alignment: the copy is cut into windows of
:data:`WINDOW` items, and the straight line of offsets within :data:`BAND` items of the
voted one (sloping by up to :data:`MAX_DRIFT`, for a sped-up copy) is found along which the
windows' bit error rates, counted on :data:`VERIFY_MASK`'s coarse bits with an item of
slack either way, lie furthest below :data:`MAX_BER`. A window on that line at or below it
matches (unrelated audio sits near 0.5; music in the same key on the same chords comes
closer, some windows under it). The score is the seconds of the copy in matching windows;
the offset reported is where the longest run of them starts. Where the work has onset
envelopes, a line reaching the threshold must also keep the work's event timing
(:func:`audio_onsets.agreement`: the copy's onsets correlate with the work's along the line
at :data:`MIN_ONSETS_STRAIGHT` held straight, or :data:`MIN_ONSETS_BENT` bent for a sped-up
copy): other music in the work's key on its chords, whose tempo, melody and rhythm differ,
fails it (``bench/audio.py``: 15 of 1,000 distractors matched before it, 1 still did).
Where no line of an offset reaches the score at :data:`MAX_BER`, its line furthest below
:data:`LOOSE_BER` is tried, its windows within that counting: a voice over quiet music moves
most of Chromaprint's windows past :data:`MAX_BER` but not its onsets, so such a line must
keep them held straight at :data:`MIN_ONSETS_LOOSE` and have the work's wide contour's
notes heard (below); a work without them is not matched so. Noise over music with little
bass fills the low band the onsets listen to, so a line they would reject is kept where it
covers nearly all the copy (:data:`WHOLE_SHARE`, at least :data:`WHOLE_SECONDS`) at a mean bit
error rate no other music came near (:data:`WHOLE_BER`), neither onsets nor pitch asked. A
piece at the work's tempo shares its generated bass and drums and passes more often, mostly
by the bent fit; where the work has a pitch contour, a line passing by the bent fit alone
must also name the work's notes (:func:`audio_pitch.agreement` at :data:`MIN_PITCH_BENT`),
which a sped-up copy does (pitch-preserving) and another melody does not. A voice over the
music hides its notes (under a fifth of them named), so a line held straight is checked by
pitch another way: the copy's semitone levels (read for a copy only) must rise and fall
with the notes the work names, pair by pair of nearby hops (:func:`audio_pitch.heard` at
:data:`MIN_HEARD_STRAIGHT`), which a voice, adding energy to both hops alike, leaves
standing. It rejects such a piece only where the work's contour names its melody: for some
works it mostly names their chords' notes, which that piece shares (held-out pieces passed,
see the README), so where the work has the wide contour (version 5), that one's notes are
asked, at :data:`MIN_HEARD_WIDE` (``bench/audio_heldout.py``). A song that repeats itself note for
note matches an excerpt at each repeat (a repeat closer than the band is found by verifying
the next best lines too, each over a second off those before): of a work's offsets matching
at least :data:`REPEAT_SHARE` as much of the copy as its best, the one whose band bits
differ least is kept (for a version 1 value, without them, the one matching more, then more
closely), and where the others start in the work is named. ``bench/audio.py`` measures
recall, false hits and speed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from matching import audio_bands, audio_onsets, audio_pitch, audio_speaker
from matching.media import AUDIO, FileKind
from matching.signal import Content, ContentRejected, SignalIndex, SignalType
from matching.video import CONTAINERS as VIDEO_CONTAINERS

FORMAT_VERSION = 5  # 2 adds the band bits, 3 the onsets, 4 the pitch, 5 the wide pitch
SAMPLE_RATE = 11_025  # what Chromaprint analyses at; decoding resamples to it
ITEM_S = 1365 / SAMPLE_RATE  # one sub-fingerprint per third of a 4,096-sample frame
ALGORITHM = 1  # Chromaprint's default algorithm (TEST2), what fpcalc uses
COPY_MAX_SECONDS = 600.0  # crawled copies: the first ten minutes
WORK_MAX_SECONDS = 4 * 3600.0  # registered works: the first four hours (a film's soundtrack)
DECODE_TIMEOUT_S = 300.0  # wall-clock cap on one decoding
MIN_SECONDS = 3.0  # shorter audio is refused: too short to fingerprint
SILENCE_RMS = 30.0  # int16 RMS (about -61 dBFS) at or below which a second of audio is silent
MIN_AUDIBLE_SECONDS = 2.0  # audio with fewer non-silent seconds is "silence only"
WINDOW = 16  # copy items per verified window (about 2 s)
BAND = 48  # a window may sit this many items (about 6 s) off the voted offset
MAX_BER = 0.14  # a window matches at or below this error rate on VERIFY_MASK's bits
# where no line reaches the score at MAX_BER, windows at or below this rate count on a line
# whose onsets and notes confirm it (MIN_ONSETS_LOOSE; scratch run, bench/audio_recordings.py:
# its voiced-over copies' windows lie at a median 0.18-0.25 where missed; other music's at
# about 0.5, other music on the work's chords down to MAX_BER)
LOOSE_BER = 0.2
# a line at MAX_BER of at least WHOLE_SECONDS over at least WHOLE_SHARE of the copy's windows,
# at a mean rate at or below WHOLE_BER, is the recording, its onsets and pitch unasked: noise
# over music with little bass fills the low band the onsets listen to (scratch run,
# bench/audio_recordings.py: each noise copy's line 0.9 or more of it at a mean
# 0.009-0.043, two of them failing the onset check; the closest other music's, of
# bench/audio.py's 1,000 distractors and the 218 real clips: 0.086 over a whole 20 s clip,
# 0.107 over 0.75 of one)
WHOLE_SECONDS = 15.0
WHOLE_SHARE = 0.9
WHOLE_BER = 0.05
MAX_DRIFT = 0.04  # the offset may drift by this share of the copy (a sped-up copy)
_COARSE_SLOPE = 0.005  # drift rates first tried this far apart
VOTE_BIN = 8  # items per offset vote bin (about 1 s)
MAX_ROWS_PER_ITEM = 256  # an item value shared by more registered items says nothing
CANDIDATES = 8  # best-voted offsets verified per query
OFFSETS_PER_ENTRY = 3  # of which at most this many of one entry
_SCANNED_CELLS = 256  # the best-voted offsets looked at to pick them
MIN_VOTES = 2  # an entry needs this many agreeing items to be verified
REPEAT_SHARE = 0.75  # a work's offsets matching this share of its best are told by bands
REPEAT_MARGIN = 0.02  # band bit error rates this close say the work repeats itself there
# lines verified per offset where band bits can tell repeats apart: a repeat either side of
# the best fits in the band (bench/audio.py's seed 1030 repeats every 6.4 s)
REPEAT_LINES = 3
# a line matches only where the copy's onsets follow the work's (audio_onsets.agreement):
# rigidly at this mean correlation, or with the line bent at this higher one
MIN_ONSETS_STRAIGHT = 0.5
MIN_ONSETS_BENT = 0.82
# a line scored at LOOSE_BER must keep the work's event timing held straight at this mean
# correlation, and have its wide contour's notes heard at MIN_HEARD_WIDE (scratch run over
# bench/audio.py's 600 generated music distractors: 154 such lines of 6 s or more, straight
# 0.98 at most, but at most 0.71 where heard passed, 0.85; the 218 real clips' 0.28 at most)
MIN_ONSETS_LOOSE = 0.8
# a line passing by the bent fit only must also follow the work's pitch contour at this share
# (audio_pitch.agreement; a scratch run over bench/audio.py's pieces: sped-up copies' best
# lines 0.59 and up, the pieces on a work's chords that Chromaprint matches 0.38 at most)
MIN_PITCH_BENT = 0.45
# a line held straight must have the copy's spectrum follow the work's notes at this share
# (audio_pitch.heard; a scratch run over bench/audio.py's works and generated pieces: the
# best straight line of a copy 0.81 and up (voice over), 0.88 (noise), 0.96 (Opus); the one
# piece of the bench's passing the onset check 0.70, but held-out ones 0.75-0.92: README)
MIN_HEARD_STRAIGHT = 0.75
# where the work has a wide contour (version 5), heard asks of its notes at this share
# (scratch run, bench/audio.py's works: each voice-over or noisy copy's best straight line
# 0.85 and up, phone speaker 0.88; the generated pieces of seeds 100,600-101,799 passing
# the onset check on a straight line, 0.72-0.82; see bench/audio_heldout.py)
MIN_HEARD_WIDE = 0.84
_CHUNK = 1 << 20
# Chromaprint gives each of its 16 filters two Gray-coded bits of a four-level answer: the
# odd bit says on which side of the middle threshold the filter's value lies (coarse), the
# even bit whether it lies between the outer thresholds (fine). Fine bits flip more under a
# phone speaker or a voice over the music, so verification counts coarse bits only
# (bench/audio.py: it tells altered copies from other music in the same key better than all
# 32), and votes go by the coarse bits and the four steadiest fine ones (an exact 32-bit
# value survives a voice-over or a phone speaker in under 1% of items; these 20 bits in
# 1-25%).
VERIFY_MASK = np.uint32(0xAAAAAAAA)
VERIFY_BITS = 16
KEY_MASK = np.uint32(sum(1 << bit for bit in (*range(1, 32, 2), 18, 20, 26, 28)))
_KEY_BITS = [bit for bit in range(32) if int(KEY_MASK) >> bit & 1]

# Audio containers FFmpeg may open, and the video ones (soundtracks). Others it would also
# probe (playlists, concat lists, image sequences) could refer to other files.
CONTAINERS = ("mp3,flac,wav,w64,ogg,aac,mov,matroska,asf,ape,aiff,caf,wv,tta,au,amr,ac3,"
              "eac3,dts,mpc,mpc8,tak,shn," + VIDEO_CONTAINERS)
_MP4_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")


@dataclass(frozen=True)
class AudioPrint:
    """Chromaprint's raw sub-fingerprints of one recording (uint32), its duration, its band
    bits (:mod:`matching.audio_bands`: (phases, items) uint32), its onset envelopes
    (:mod:`matching.audio_onsets`: (2 x phases, hops) uint8) and its pitch contour
    (:mod:`matching.audio_pitch`: (hops,) uint8), if read; a copy's also its semitone levels
    (:meth:`audio_pitch.PitchContour.levels`: (hops, semitones), never stored), a work's
    wide pitch contour (:meth:`audio_pitch.PitchContour.wide`: (hops,) uint8) and, if asked
    for, the sub-fingerprints of the work heard through a small speaker
    (:mod:`matching.audio_speaker`; never stored in this value: see :meth:`speaker_view`)."""

    items: np.ndarray
    duration: float
    bands: np.ndarray | None = None
    onsets: np.ndarray | None = None
    pitch: np.ndarray | None = None
    levels: np.ndarray | None = None
    wide: np.ndarray | None = None
    speaker: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.items)

    def speaker_view(self) -> AudioPrint | None:
        """The work as a small speaker plays it: its speaker sub-fingerprints with its own
        band bits, onsets and pitch (the checks stay the work's), or None if not read."""
        if self.speaker is None:
            return None
        return AudioPrint(self.speaker, self.duration, self.bands, self.onsets, self.pitch,
                          wide=self.wide)

    def encode(self) -> str:
        """The fingerprint value: versioned JSON around Chromaprint's compressed encoding
        (version 1 without band bits, 2 with a registered work's: one frame per item, 3
        with its onset envelopes too, 4 with its pitch contour too, 5 with its wide pitch
        contour too)."""
        packed = _library().encode_fingerprint([int(v) for v in self.items], ALGORITHM)
        data = {"v": 1, "duration": round(self.duration, 2),
                "chromaprint": packed.decode("ascii")}
        if self.bands is not None:
            if self.bands.shape[0] != 1:
                raise ValueError("only one frame per item of band bits is stored")
            data.update(v=2, bands=audio_bands.encode(self.bands[0]))
            if self.onsets is not None:
                data.update(v=3, onsets=audio_onsets.encode(self.onsets))
                if self.pitch is not None:
                    data.update(v=4, pitch=audio_pitch.encode(self.pitch))
                    if self.wide is not None:
                        data.update(v=FORMAT_VERSION, wide=audio_pitch.encode(self.wide))
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str) -> AudioPrint:
        """Parse and check a fingerprint value strictly; raises ``ValueError``."""
        if not isinstance(value, str):
            raise ValueError(f"chromaprint fingerprint must be a string, not "
                             f"{type(value).__name__}")
        max_items = int(WORK_MAX_SECONDS / ITEM_S) + 16
        # per item: Chromaprint's few characters, then base64 of 4 bytes of band bits, 6 of
        # onsets and 6 of pitch (about 26 characters for music)
        if len(value) > 32 * max_items:
            raise ValueError(f"chromaprint fingerprint is {len(value):,} characters, too long")
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"chromaprint fingerprint is not JSON: {exc}") from None
        keys = {"v", "duration", "chromaprint"}
        if isinstance(data, dict) and data.get("v") in (2, 3, 4, 5):
            keys.add("bands")
        if isinstance(data, dict) and data.get("v") in (3, 4, 5):
            keys.add("onsets")
        if isinstance(data, dict) and data.get("v") in (4, 5):
            keys.add("pitch")
        if isinstance(data, dict) and data.get("v") == 5:
            keys.add("wide")
        if not isinstance(data, dict) or set(data) != keys:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f'chromaprint fingerprint must be an object with keys "v", '
                             f'"duration", "chromaprint" (and "bands" in versions 2 to 5, '
                             f'"onsets" in 3 to 5, "pitch" in 4 and 5, "wide" in 5); got {got}')
        if type(data["v"]) is not int or data["v"] not in (1, 2, 3, 4, FORMAT_VERSION):
            raise ValueError(f"unsupported chromaprint fingerprint version {data['v']!r} "
                             f"(expected 1 to {FORMAT_VERSION})")
        duration = data["duration"]
        if isinstance(duration, bool) or not isinstance(duration, int | float) \
                or not math.isfinite(duration) or not 0 < duration <= WORK_MAX_SECONDS:
            raise ValueError(f"duration must be seconds in (0, {WORK_MAX_SECONDS:g}], "
                             f"got {duration!r:.40}")
        packed = data["chromaprint"]
        if not isinstance(packed, str) or not packed:
            raise ValueError("chromaprint must be the non-empty compressed fingerprint "
                             "(what fpcalc prints)")
        library = _library()
        try:
            base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
            items, algorithm = library.decode_fingerprint(packed.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError, library.FingerprintError):
            raise ValueError(f"chromaprint value is not a compressed Chromaprint "
                             f"fingerprint: {packed!r:.40}") from None
        if algorithm != ALGORITHM:
            raise ValueError(f"chromaprint fingerprint made with algorithm {algorithm}, "
                             f"expected {ALGORITHM} (fpcalc's default)")
        if not items:
            raise ValueError("chromaprint fingerprint has no items")
        if len(items) > max_items:
            raise ValueError(f"chromaprint fingerprint has {len(items):,} items, "
                             f"over {max_items:,}")
        if len(items) * ITEM_S > duration + 2 * 16 * ITEM_S + 1:
            raise ValueError(f"chromaprint fingerprint has {len(items):,} items, more than "
                             f"{duration:g} s of audio gives")
        bands = None
        if "bands" in data:
            if not isinstance(data["bands"], str):
                raise ValueError("bands must be base64 text")
            bands = audio_bands.decode(data["bands"], len(items))
        onsets = None
        if "onsets" in data:
            if not isinstance(data["onsets"], str):
                raise ValueError("onsets must be base64 text")
            onsets = audio_onsets.decode(data["onsets"], len(items))
        pitch = None
        if "pitch" in data:
            if not isinstance(data["pitch"], str):
                raise ValueError("pitch must be base64 text")
            pitch = audio_pitch.decode(data["pitch"], len(items))
        wide = None
        if "wide" in data:
            if not isinstance(data["wide"], str):
                raise ValueError("wide must be base64 text")
            wide = audio_pitch.decode(data["wide"], len(items), "wide",
                                      audio_pitch.WIDE_SEMITONES)
        return cls(np.array(items, dtype=np.uint32), round(float(duration), 2), bands, onsets,
                   pitch, wide=wide)


class AudioContent(Content):
    """An audio file (decoded by :func:`decode_audio`: a work and a copy are read to
    different lengths, so there is nothing for two decodings to share)."""

    @classmethod
    def recognise(cls, head: bytes) -> int:
        """2 for the signatures of audio formats (MP3 with ID3 or a frame header, ADTS AAC,
        FLAC, WAV, AIFF, Ogg without a Theora video stream, MP4 audio brands), else 0.

        >>> AudioContent.recognise(b"ID3\\x04"), AudioContent.recognise(b"fLaC")
        (2, 2)
        >>> AudioContent.recognise(bytes(4) + b"ftypM4A "), AudioContent.recognise(b"\\xff\\xd8")
        (2, 0)
        """
        if head[:3] == b"ID3" or head[:4] in (b"fLaC", b"MAC ", b"wvpk", b"TTA1", b"#!AM"):
            return 2
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return 2
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return 2
        if head[:4] == b"OggS" and b"\x80theora" not in head[:512]:
            return 2
        if head[4:8] == b"ftyp" and head[8:12] in _MP4_AUDIO_BRANDS:
            return 2
        if len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
            if head[1] & 0x06 == 0 and head[1] & 0xF0 == 0xF0:  # ADTS AAC: layer 00
                return 2
            if head[1] & 0x06 and head[2] >> 4 not in (0, 15) and head[2] & 0x0C != 0x0C:
                return 2  # an MPEG audio frame: layer, bitrate and sample rate all valid
        return 0


def _limit_text(limit: int) -> str:
    return f"{limit // 2**20} MB" if limit % 2**20 == 0 else f"{limit:,} byte"


def decode_audio(content: bytes, *, max_seconds: float, max_bytes: int,
                 timeout: float = DECODE_TIMEOUT_S, band_phases: int = 0,
                 speaker: bool = False) -> AudioPrint:
    """Decode ``content``'s first audio stream (up to ``max_seconds``) and fingerprint it,
    with band bits read ``band_phases`` times per item and the onset envelopes (neither if
    0), and with ``speaker``, the same decoded audio through :mod:`matching.audio_speaker`'s
    band too (none if that leaves it silent); raises :class:`ContentRejected` with a
    one-line reason."""
    if not content:
        raise ContentRejected("empty file: 0 bytes, no audio")
    if len(content) > max_bytes:
        raise ContentRejected(f"audio of {len(content):,} bytes is over the "
                              f"{_limit_text(max_bytes)} limit")
    # FFmpeg seeks in some containers (MP4's index at the end), so it reads a file.
    # No suffix: FFmpeg would favour the demuxer it names over the content's own format.
    with tempfile.NamedTemporaryFile(prefix="swordnet-audio-") as file:
        file.write(content)
        file.flush()
        return _decode_file(file.name, max_seconds, timeout, band_phases, speaker)


def _library() -> ModuleType:
    """pyacoustid's bindings to the system's libchromaprint, loaded on first use so that
    everything else works without it; its absence is a one-line refusal."""
    try:
        import chromaprint
    except ImportError:
        raise ContentRejected("audio fingerprinting needs the Chromaprint library "
                              "(Debian: libchromaprint1), which is not installed") from None
    return chromaprint


def _decode_file(path: str, max_seconds: float, timeout: float,
                 band_phases: int, speaker: bool) -> AudioPrint:
    library = _library()
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
               "-protocol_whitelist", "file", "-format_whitelist", CONTAINERS,
               "-i", path, "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{max_seconds:g}",
               "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise ContentRejected("audio decoding needs ffmpeg (Debian: ffmpeg), which is not "
                              "installed") from None
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    errors: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(process, errors))
    reader.start()
    fingerprinter = library.Fingerprinter(ALGORITHM)
    fingerprinter.start(SAMPLE_RATE, 1)
    bands = audio_bands.BandBits(audio_bands.ITEM // band_phases) if band_phases else None
    onsets = audio_onsets.OnsetEnvelope(audio_onsets.COPY_PHASES if band_phases > 1 else 1) \
        if band_phases else None
    pitch = audio_pitch.PitchContour(keep_levels=band_phases > 1, wide=band_phases == 1) \
        if band_phases else None
    speaker_pass = _SpeakerPass(library) if speaker else None
    samples, audible, carry = 0, 0.0, b""
    try:
        assert process.stdout is not None
        while chunk := process.stdout.read(_CHUNK):
            chunk = carry + chunk
            usable = len(chunk) - len(chunk) % 2
            carry = chunk[usable:]
            pcm = np.frombuffer(chunk[:usable], dtype="<i2")
            fingerprinter.feed(chunk[:usable])
            if bands is not None:
                bands.feed(pcm)
            if onsets is not None:
                onsets.feed(pcm)
            if pitch is not None:
                pitch.feed(pcm)
            if speaker_pass is not None:
                speaker_pass.feed(pcm)
            audible += _audible_seconds(pcm)
            samples += len(pcm)
        process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join()
    if timed_out.is_set():
        raise ContentRejected(f"audio decoding took over {timeout:g} s: refused")
    duration = samples / SAMPLE_RATE
    if not samples:
        raise ContentRejected(_no_audio_reason(b"".join(errors)))
    if duration < MIN_SECONDS:
        raise ContentRejected(f"audio too short: {duration:.1f} s, at least "
                              f"{MIN_SECONDS:g} s needed")
    if audible < MIN_AUDIBLE_SECONDS:
        raise ContentRejected(f"silence only: nothing to fingerprint in {duration:.1f} s "
                              f"of audio")
    items, _ = library.decode_fingerprint(fingerprinter.finish())
    if not items:
        raise ContentRejected(f"audio too short: {duration:.1f} s gives no fingerprint")
    speaker_items = None if speaker_pass is None else speaker_pass.finish()
    return AudioPrint(np.array(items, dtype=np.uint32), round(duration, 2),
                      None if bands is None else bands.finish(band_phases),
                      None if onsets is None else onsets.finish(),
                      None if pitch is None else pitch.finish(),
                      None if pitch is None else pitch.levels(),
                      None if pitch is None else pitch.wide(), speaker_items)


class _SpeakerPass:
    """The decoded audio through :mod:`matching.audio_speaker`'s band, fingerprinted by a
    second Chromaprint pass as it streams."""

    def __init__(self, library: ModuleType) -> None:
        self._library = library
        self._band = audio_speaker.SpeakerFilter(SAMPLE_RATE)
        self._printer = library.Fingerprinter(ALGORITHM)
        self._printer.start(SAMPLE_RATE, 1)
        self._audible = 0.0

    def feed(self, pcm: np.ndarray) -> None:
        filtered = self._band.feed(pcm)
        self._printer.feed(filtered.tobytes())
        self._audible += _audible_seconds(filtered)

    def finish(self) -> np.ndarray | None:
        """The sub-fingerprints, or None where the band left the audio silent."""
        if self._audible < MIN_AUDIBLE_SECONDS:
            return None
        items, _ = self._library.decode_fingerprint(self._printer.finish())
        return np.array(items, dtype=np.uint32)


def _drain(process: subprocess.Popen[bytes], kept: list[bytes]) -> None:
    """Read FFmpeg's error output to its end (so it never blocks writing it), keeping the
    last few lines."""
    assert process.stderr is not None
    tail = b""
    while chunk := process.stderr.read(4096):
        tail = (tail + chunk)[-4096:]
    kept.append(tail)


def _audible_seconds(pcm: np.ndarray) -> float:
    """Seconds of ``pcm`` (whole seconds only; the remainder is ignored) above silence."""
    seconds = len(pcm) // SAMPLE_RATE
    if not seconds:
        return 0.0
    blocks = pcm[: seconds * SAMPLE_RATE].astype(np.float32).reshape(seconds, SAMPLE_RATE)
    return float(np.count_nonzero(np.sqrt((blocks * blocks).mean(axis=1)) > SILENCE_RMS))


def _no_audio_reason(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace")
    if "matches no streams" in text:
        return "no audio stream in the file"
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    last = last.rsplit(": ", 1)[-1] if last else "nothing decoded"
    return f"not audio FFmpeg can decode (not audio, or corrupt or truncated): {last:.80}"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


class ChromaprintSignal(SignalType):
    """Chromaprint sub-fingerprints; a copy matches on windows agreeing at one offset.

    Reads audio files and the soundtracks of videos: a video work is registered with its
    soundtrack's fingerprint too, and a crawled video is matched by its soundtrack as well.
    A video without sound (or a silent one) simply has no soundtrack fingerprint.
    """

    name: ClassVar[str] = "chromaprint"
    work_kind: ClassVar[str] = "audio"
    also_work_kinds: ClassVar[tuple[str, ...]] = ("video",)
    higher_is_closer: ClassVar[bool] = True
    score_unit: ClassVar[str] = "seconds"
    # Seconds of the copy in windows within MAX_BER of the work. bench/audio.py: noise,
    # speech and music in other keys stay below it; music in a work's key on its chords at a
    # tempo a few per cent away can reach 16 s of a 20 s clip (the onset and pitch checks
    # reject all of the 1,000 there, not all held-out ones; see matching/audio_onsets.py and
    # matching/audio_pitch.py); a 15 s
    # excerpt scores about 12 s.
    default_threshold: ClassVar[float] = 6
    max_content_bytes: ClassVar[int] = AUDIO.max_download_bytes
    file_kinds: ClassVar[tuple[FileKind, ...]] = (AUDIO,)
    content_type: ClassVar[type[Content]] = AudioContent
    preview: ClassVar[str | None] = "audio"

    @classmethod
    def _soundtrack(cls, content: bytes | Content) -> bool:
        """Whether ``content`` is another kind's (a video's) rather than an audio file."""
        return isinstance(content, Content) and not isinstance(content, AudioContent)

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        """The whole recording's fingerprint (a registered work), up to
        :data:`WORK_MAX_SECONDS`."""
        return decode_audio(AudioContent.of(content).raw, max_seconds=WORK_MAX_SECONDS,
                            max_bytes=cls.max_content_bytes, band_phases=1).encode()

    @classmethod
    def registration_variants(cls, content: bytes | Content) -> dict[str, str]:
        """The recording's fingerprint, and the recording heard through a small speaker
        (:mod:`matching.audio_speaker`, from the same decoding; not where that band leaves
        it silent): a copy played through one, or filtered like one, has lost the bass that
        moves most of Chromaprint's bits. None for a video whose soundtrack is missing or
        silent (its frames identify it)."""
        try:
            found = decode_audio(AudioContent.of(content).raw, max_seconds=WORK_MAX_SECONDS,
                                 max_bytes=cls.max_content_bytes, band_phases=1, speaker=True)
        except ContentRejected:
            if cls._soundtrack(content):
                return {}
            raise
        speaker = found.speaker_view()
        return {"original": found.encode(),
                **({"speaker": speaker.encode()} if speaker is not None else {})}

    @classmethod
    def query_value(cls, content: bytes | Content) -> AudioPrint:
        """Sub-fingerprints of crawled content: its first :data:`COPY_MAX_SECONDS` only (an
        empty print, matching nothing, for a video without a usable soundtrack)."""
        try:
            return decode_audio(AudioContent.of(content).raw, max_seconds=COPY_MAX_SECONDS,
                                max_bytes=cls.max_content_bytes,
                                band_phases=audio_bands.PHASES)
        except ContentRejected:
            if cls._soundtrack(content):
                return AudioPrint(np.zeros(0, dtype=np.uint32), 0.0)
            raise

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """The stretch of the work found, where it lies in the copy, and how much of the
        copy it is.

        >>> ChromaprintSignal.describe({"work_range": [70.0, 100.2],
        ...                             "copy_range": [0.0, 30.2], "fraction": 0.5})
        'work 1:10-1:40 at copy 0:00-0:30, 50% of the copy'
        >>> ChromaprintSignal.describe({"work_range": [70.0, 100.2], "copy_range": [0.0, 30.2],
        ...                             "also_at_s": [10.0, 130.5]})
        'work 1:10-1:40 at copy 0:00-0:30; the work repeats it at 0:10 and 2:10'
        """
        if "work_range" not in detail or "copy_range" not in detail:
            return ""
        work, copy = detail["work_range"], detail["copy_range"]
        where = (f"work {_clock(work[0])}-{_clock(work[1])} at copy "
                 f"{_clock(copy[0])}-{_clock(copy[1])}")
        fraction = detail.get("fraction")
        where += f", {fraction:.0%} of the copy" if fraction is not None else ""
        also = [_clock(start) for start in detail.get("also_at_s", [])]
        if also:
            listed = also[0] if len(also) == 1 else ", ".join(also[:-1]) + " and " + also[-1]
            where += f"; the work repeats it at {listed}"
        return where

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """Seconds of copy ``b`` matching work ``a`` at one (drifting) offset."""
        index = AudioIndex()
        index.add(0, a)
        found = index.query(b, 0)
        return found[0][1] if found else 0.0

    @classmethod
    def validate(cls, value: str) -> str:
        return AudioPrint.decode(value.strip() if isinstance(value, str) else value).encode()

    @classmethod
    def new_index(cls) -> SignalIndex:
        return AudioIndex()


class AudioIndex(SignalIndex):
    """Registered recordings' sub-fingerprints, sorted by key (:func:`_key`) with a table of
    where each key's rows start; queries vote on offsets and the best-voted are verified
    frame by frame.

    Rows (one per registered item) are numbered in order of addition. New rows go to a small
    unsorted tail that is sorted into the main arrays once it grows past a share of them, so
    adding a work never re-sorts the catalogue each time. A removed entry's rows stay until
    the next merge but no longer count.
    """

    def __init__(self) -> None:
        self._items: list[np.ndarray] = []  # per slot: the entry's items
        self._bands: list[np.ndarray | None] = []  # per slot: its band bits (version 2)
        self._onsets: list[np.ndarray | None] = []  # per slot: its onsets (version 3)
        self._pitch: list[np.ndarray | None] = []  # per slot: its pitch contour (version 4)
        self._wide: list[np.ndarray | None] = []  # per slot: its wide contour (version 5)
        self._slot_of: dict[int, int] = {}
        self._slot_entry: list[int] = []
        self._alive = np.zeros(0, dtype=bool)
        self._durations: list[float] = []
        self._keys = np.zeros(0, dtype=np.uint32)  # sorted item keys (_key)
        self._rows = np.zeros(0, dtype=np.int64)   # (slot << 32) | position, by _keys
        self._starts = np.zeros(2 ** len(_KEY_BITS) + 1, dtype=np.int64)  # key's first row
        self._tail: list[tuple[np.ndarray, np.ndarray]] = []
        self._tail_size = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(self, entry_id: int, value: str) -> None:
        self.extend([(entry_id, value)])

    def extend(self, entries: list[tuple[int, str]]) -> None:
        # Parse everything before changing anything; an id given twice keeps its last value.
        decoded = {entry_id: AudioPrint.decode(value) for entry_id, value in entries}
        for entry_id in decoded:
            self.remove(entry_id)
        alive = [self._alive]
        for entry_id, found in decoded.items():
            slot = len(self._items)
            self._items.append(found.items)
            self._bands.append(found.bands)
            self._onsets.append(found.onsets)
            self._pitch.append(found.pitch)
            self._wide.append(found.wide)
            self._durations.append(found.duration)
            self._slot_entry.append(entry_id)
            self._slot_of[entry_id] = slot
            alive.append(np.ones(1, dtype=bool))
            positions = np.arange(len(found.items), dtype=np.int64)
            self._tail.append((_key(found.items), (np.int64(slot) << 32) | positions))
            self._tail_size += len(found.items)
        self._alive = np.concatenate(alive)
        if self._tail_size > max(4096, len(self._keys) // 8):
            self._merge()

    def _merge(self) -> None:
        if not self._tail:
            return
        live_rows = self._alive[self._rows >> 32] if len(self._rows) else np.zeros(0, bool)
        keys = np.concatenate([self._keys[live_rows], *(k for k, _ in self._tail)])
        rows = np.concatenate([self._rows[live_rows], *(r for _, r in self._tail)])
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows = keys[order], rows[order]
        self._starts[1:] = np.cumsum(np.bincount(self._keys, minlength=len(self._starts) - 1))
        self._tail, self._tail_size = [], 0

    def remove(self, entry_id: int) -> None:
        slot = self._slot_of.pop(entry_id, None)
        if slot is not None:
            self._alive[slot] = False
            self._items[slot] = np.zeros(0, dtype=np.uint32)
            self._bands[slot] = None
            self._onsets[slot] = None
            self._pitch[slot] = None
            self._wide[slot] = None

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def _lookup(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(copy position, row)`` of every registered item equal to a copy item."""
        self._merge()
        if not len(self._keys):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        keys = _key(items)
        start = self._starts[keys]
        counts = self._starts[keys + 1] - start
        counts[counts > MAX_ROWS_PER_ITEM] = 0
        total = int(counts.sum())
        if not total:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        query = np.repeat(np.arange(len(items), dtype=np.int64), counts)
        first = np.repeat(start - np.cumsum(counts) + counts, counts)
        rows = self._rows[first + np.arange(total)]
        return query, rows

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Entries with at least ``limit`` seconds of ``value`` matching at one offset.

        ``value`` is a fingerprint string or :class:`AudioPrint` (``query_value``'s result).
        """
        copy = value if isinstance(value, AudioPrint) else AudioPrint.decode(value)
        if not self._slot_of or not len(copy):
            return []
        query, rows = self._lookup(copy.items)
        slots = rows >> 32
        keep = self._alive[slots]
        query, slots, positions = query[keep], slots[keep], (rows[keep] & 0xFFFFFFFF)
        if not len(query):
            return []
        bins = np.floor_divide(positions - query, VOTE_BIN)
        lowest = int(bins.min()) - 1
        span = int(bins.max()) - lowest + 2
        cells, votes = np.unique(slots * span + (bins - lowest), return_counts=True)
        # each bin counts its neighbours' votes too: a sped-up copy spreads over bins
        spread = votes.copy()
        for step in (-1, 1):
            at = np.searchsorted(cells, cells + step)
            found = (at < len(cells)) & (cells[np.minimum(at, len(cells) - 1)] == cells + step)
            spread[found] += votes[at[found]]
        cell_slot = cells // span
        min_windows = max(1, math.ceil(limit / (WINDOW * ITEM_S) - 1e-6))
        lines: dict[int, list[Line]] = {}
        tried: dict[int, list[int]] = {}
        for cell in _most_voted(spread, _SCANNED_CELLS):
            if spread[cell] < MIN_VOTES or sum(map(len, tried.values())) >= CANDIDATES:
                break
            slot = int(cell_slot[cell])
            bin_number = int(cells[cell] % span) + lowest
            near = tried.setdefault(slot, [])
            # a work's offsets apart by more than the band are each verified (a recording
            # repeating itself votes for several); those within it are one already
            if len(near) >= OFFSETS_PER_ENTRY or any(
                    abs(bin_number - other) * VOTE_BIN <= BAND for other in near):
                continue
            near.append(bin_number)
            lines.setdefault(slot, []).extend(
                line for line in _verify(self._items[slot], copy.items,
                                         bin_number * VOTE_BIN + VOTE_BIN // 2, min_windows,
                                         lines=REPEAT_LINES if self._banded(slot, copy) else 1)
                if line[0] >= limit)
        results = []
        for slot, found in lines.items():
            work_bands = self._bands[slot]
            if self._banded(slot, copy):
                assert work_bands is not None and copy.bands is not None
                for _, detail, windows, offsets in found:
                    detail["bands_ber"] = round(audio_bands.errors(
                        work_bands, copy.bands, windows, offsets, WINDOW), 3)
            best = _best_offset([(seconds, detail) for seconds, detail, _, _ in found],
                                functools.partial(self._passes, slot, copy, found))
            if best is not None:
                results.append((self._slot_entry[slot], *best))
        return sorted(results, key=lambda r: (-r[1], r[0]))

    def _banded(self, slot: int, copy: AudioPrint) -> bool:
        """Whether the work in ``slot`` and the copy both have band bits."""
        work_bands = self._bands[slot]
        return work_bands is not None and copy.bands is not None and len(copy.bands[0]) > 0 \
            and len(work_bands[0]) > 0

    def _passes(self, slot: int, copy: AudioPrint, found: list[Line], number: int) -> bool:
        """Whether line ``number`` of ``found`` (the work in ``slot``'s) keeps the work's
        event timing and, where the work names notes, its pitch; what they gave goes in the
        line's detail. A line scored at :data:`LOOSE_BER` must pass both, by its onsets held
        straight and the work's wide contour's notes heard; a line at :data:`MAX_BER` nearly
        the whole copy long and closer than any other music's (:data:`WHOLE_BER`) is asked
        neither."""
        _, detail, windows, offsets = found[number]
        loose = "loose_ber" in detail
        if not loose and detail["seconds"] >= WHOLE_SECONDS \
                and detail["fraction"] >= WHOLE_SHARE and detail["ber"] <= WHOLE_BER:
            return True  # the copy nearly all the way, closely: the recording
        if loose and (self._wide[slot] is None or copy.levels is None):
            return False  # nothing else was seen to tell such a line from a piece at its tempo
        work_onsets = self._onsets[slot]
        if work_onsets is None or copy.onsets is None or not copy.onsets.shape[1]:
            return not loose
        agreed = audio_onsets.agreement(work_onsets, copy.onsets, windows, offsets, WINDOW)
        if agreed is None:
            return not loose
        straight, bent = agreed
        if loose and straight < MIN_ONSETS_LOOSE:
            return False  # close chroma alone: a line this loose needs the work's timing
        if straight < MIN_ONSETS_STRAIGHT and bent < MIN_ONSETS_BENT:
            return False  # other music on the work's chords, not this recording
        detail["onsets_r"] = [round(straight, 3), round(bent, 3)]
        work_pitch = self._pitch[slot]
        if straight < MIN_ONSETS_STRAIGHT and work_pitch is not None \
                and copy.pitch is not None:
            pitched = audio_pitch.agreement(work_pitch, copy.pitch, windows, offsets, WINDOW)
            if pitched is not None:
                if pitched < MIN_PITCH_BENT:
                    return False  # a piece on the work's chords at its tempo
                detail["pitch_share"] = round(pitched, 3)
        elif work_pitch is not None and copy.levels is not None:
            wide = self._wide[slot]
            heard = audio_pitch.heard(work_pitch if wide is None else wide, copy.levels,
                                      windows, offsets, WINDOW)
            if heard is not None:
                if heard < (MIN_HEARD_STRAIGHT if wide is None else MIN_HEARD_WIDE):
                    return False  # the work's rhythm and chords, not its melody
                detail["notes_heard"] = round(heard, 3)
            elif loose:
                return False  # the work names too few notes there to confirm a loose line
        return True


def _most_voted(votes: np.ndarray, count: int) -> np.ndarray:
    """The indices of the ``count`` largest ``votes``, largest first, equal ones in index
    order: ``np.argsort(-votes, kind="stable")[:count]``, sorting only those with at least
    the ``count``-th most votes (a 3-minute copy votes for some 16,000 cells).

    >>> _most_voted(np.array([3, 9, 1, 3, 3]), 3).tolist()
    [1, 0, 3]
    """
    least = np.partition(votes, len(votes) - count)[len(votes) - count] \
        if len(votes) > count else votes.min(initial=0)
    among = np.flatnonzero(votes >= least)  # ascending: equal votes stay in index order
    return among[np.argsort(-votes[among], kind="stable")[:count]]


def _key(items: np.ndarray) -> np.ndarray:
    """Each item's :data:`KEY_MASK` bits packed into the low bits (uint32, below
    ``2 ** 20``): items share a key exactly where they agree on those bits, and the key
    indexes :class:`AudioIndex`'s table of where each key's rows start."""
    key = np.zeros(len(items), dtype=np.uint32)
    for place, bit in enumerate(_KEY_BITS):
        key |= (items >> np.uint32(bit) & np.uint32(1)) << np.uint32(place)
    return key


def _best_offset(found: list[tuple[float, dict[str, Any]]],
                 passes: Callable[[int], bool] = lambda number: True
                 ) -> tuple[float, dict[str, Any]] | None:
    """Of one work's verified offsets passing the further checks (``passes``, asked only
    of those that could be chosen or named, as it costs more than the rest), the one
    matching more of the copy, or as much more closely; where the work has band bits, the
    closest in them of those matching at least :data:`REPEAT_SHARE` as much (a passage the
    work repeats matches its chroma at each repeat: Chromaprint tells them apart by a few
    windows, or by chance). The others that match alike (as much, and as closely in band
    bits, give or take :data:`REPEAT_MARGIN`; without band bits, as much) are named in
    ``also_at_s`` (where each starts in the work): the work repeats itself there, and a
    reviewer may hear either. None if no offset passes.
    """
    checked: dict[int, bool] = {}

    def kept(number: int) -> bool:
        if number not in checked:
            checked[number] = passes(number)
        return checked[number]

    # the most matched of those passing: the first passing, most matched first
    top = next((n for n in sorted(range(len(found)), key=lambda n: -found[n][0]) if kept(n)),
               None)
    if top is None:
        return None
    most = found[top][0]
    near = [n for n, f in enumerate(found) if f[0] >= REPEAT_SHARE * most]
    if all("bands_ber" in detail for _, detail in found):
        closest = next(n for n in sorted(near, key=lambda n: (
            found[n][1]["bands_ber"], -found[n][0], found[n][1]["ber"])) if kept(n))
        chosen = found[closest]
        alike = [found[n] for n in near
                 if found[n][1]["bands_ber"] <= chosen[1]["bands_ber"] + REPEAT_MARGIN
                 and kept(n)]
    else:
        alike = [found[n] for n in near if kept(n)]
        chosen = max(alike, key=lambda f: (f[0], -f[1]["ber"]))
    # places are told apart by where they start in the work, the chosen one's included
    starts = [chosen[1]["work_range"][0]]
    for _, detail in sorted(alike, key=lambda f: f[1]["work_range"][0]):
        if all(abs(detail["work_range"][0] - other) > 1 for other in starts):
            starts.append(detail["work_range"][0])
    if len(starts) > 1:
        chosen[1]["also_at_s"] = sorted(starts[1:])
    return chosen


Line = tuple[float, dict[str, Any], np.ndarray, np.ndarray]


def _verify(work: np.ndarray, copy: np.ndarray, offset: int, min_windows: int = 1,
            lines: int = 1) -> list[Line]:
    """The copy's windows matching ``work`` along the best line of offsets near ``offset``
    (work item minus copy item): its score in seconds, where, and the matched windows with
    their offsets; nothing if fewer than ``min_windows`` match.

    The line may slope by up to :data:`MAX_DRIFT` (a sped-up copy drifts steadily); each
    window is judged at the line's offset give or take one item (the copy's items are
    sampled at another phase of the audio). With ``lines`` above 1, the next best lines
    lying more than :data:`VOTE_BIN` items off the ones found are given too: a recording
    repeating itself within the band matches its chroma at each repeat, and only other
    features (the band bits) tell which one the copy was cut from. Where no line has
    ``min_windows`` windows at :data:`MAX_BER`, the best line at :data:`LOOSE_BER` is given
    (its detail names ``loose_ber``) if enough windows lie within that anywhere.
    """
    windows = len(copy) // WINDOW
    if not windows or not len(work):
        return []
    shifts = np.arange(offset - BAND - VOTE_BIN, offset + BAND + VOTE_BIN + 1)
    width = len(shifts)
    # only windows reaching the work at some shift are compared (windows low to high): the
    # others overlap it nowhere, so match nowhere (a copy longer than the work, mostly)
    low = max(0, -((int(shifts[-1]) + WINDOW - 1) // WINDOW))
    high = min(windows, (len(work) - 1 - int(shifts[0])) // WINDOW + 1)
    if high <= low:
        return []
    start, length = low * WINDOW, (high - low) * WINDOW
    # the work from shifts[0] on, padded where it has no items: row i of its sliding view
    # holds work[start + i + shifts] (a view, nothing copied), and the padding counts no errors
    first_item = start + int(shifts[0])  # the work item at the sliding view's first place
    begin, end = max(0, -first_item), min(length + width - 1, len(work) - first_item)
    valid = np.zeros(length + width - 1, dtype=np.uint8)
    valid[begin:end] = 1
    work_part = np.zeros(length + width - 1, dtype=np.uint32)
    work_part[begin:end] = work[first_item + begin:first_item + end] & VERIFY_MASK
    view = np.lib.stride_tricks.sliding_window_view(work_part, width)[:length]
    errors = np.bitwise_count(view ^ (copy[start:start + length] & VERIFY_MASK)[:, None]) \
        * np.lib.stride_tricks.sliding_window_view(valid, width)[:length]
    errors = errors.reshape(high - low, WINDOW, width).sum(axis=1, dtype=np.int32)
    ends = np.concatenate([[0], np.cumsum(valid, dtype=np.int32)])
    first = np.arange(high - low)[:, None] * WINDOW + np.arange(width)[None, :]
    counted = ends[first + WINDOW] - ends[first]
    # a window must overlap the work by at least half to be judged
    ber = np.ones((windows, width))
    reaching = ber[low:high]
    reaching[:] = np.where(counted >= WINDOW // 2,
                           errors / np.maximum(VERIFY_BITS * counted, 1), 1.0)
    reaching[:, 1:-1] = np.minimum(reaching[:, 1:-1],
                                   np.minimum(reaching[:, :-2], reaching[:, 2:]))
    found: list[Line] = []
    remaining = ber
    for _ in range(lines):
        if np.count_nonzero(remaining.min(axis=1) <= MAX_BER) < min_windows:
            break  # too few windows match at any offset to reach the score asked for
        columns = _best_line(remaining, len(copy), MAX_BER)
        line = remaining[np.arange(windows), columns]
        if not (line <= MAX_BER).any():
            break
        found.append(_line_match(line, shifts[columns], MAX_BER))
        near = np.abs(np.arange(len(shifts))[None, :] - columns[:, None]) <= VOTE_BIN
        remaining = np.where(near, 1.0, remaining)
    if all(len(hit) < min_windows for _, _, hit, _ in found) \
            and np.count_nonzero(ber.min(axis=1) <= LOOSE_BER) >= min_windows:
        columns = _best_line(ber, len(copy), LOOSE_BER)
        line = ber[np.arange(windows), columns]
        if (line <= LOOSE_BER).any():
            found.append(_line_match(line, shifts[columns], LOOSE_BER))
    return found


def _line_match(line: np.ndarray, chosen: np.ndarray, max_ber: float) -> Line:
    """:func:`_verify`'s answer for one line, its windows matching at or below ``max_ber``
    (named ``loose_ber`` in the detail if above :data:`MAX_BER`): per window, its bit error
    rate and offset."""
    matched = line <= max_ber
    run_start, _ = _longest_run(matched)
    hit = np.flatnonzero(matched)
    first, last = int(hit[0]), int(hit[-1])
    copy_start, copy_end = first * WINDOW * ITEM_S, (last + 1) * WINDOW * ITEM_S
    work_start = (first * WINDOW + int(chosen[first])) * ITEM_S
    work_end = ((last + 1) * WINDOW + int(chosen[last])) * ITEM_S
    seconds = round(len(hit) * WINDOW * ITEM_S, 1)
    loose = {"loose_ber": max_ber} if max_ber > MAX_BER else {}
    return seconds, {
        "work_range": [round(max(0.0, work_start), 2), round(work_end, 2)],
        "copy_range": [round(copy_start, 2), round(copy_end, 2)],
        "fraction": round(len(hit) / len(line), 3),
        # where the longest matched run starts: a repeating song matches elsewhere too
        "offset_s": round(float(chosen[run_start]) * ITEM_S, 2),
        "seconds": seconds,
        "ber": round(float(line[matched].mean()), 3), **loose,
    }, hit, chosen[hit]


def _best_line(ber: np.ndarray, items: int, max_ber: float) -> np.ndarray:
    """Per window, the column of ``ber`` (windows x offsets) on the straight line of
    offsets whose windows lie furthest below ``max_ber`` in all (more windows, and closer
    ones, win): tried at coarse slopes, then finely around the best one."""
    windows, width = ber.shape
    # windows matching nowhere add nothing to any line: only the others are summed
    scoring = np.flatnonzero((ber <= max_ber).any(axis=1))
    margin = np.maximum(max_ber - ber[scoring], 0.0)
    centres = (scoring + 0.5) * WINDOW
    rows = np.arange(len(scoring))[None, :]

    def best_of(rates: np.ndarray) -> tuple[float, int]:
        """The best line's rate and start, of those at ``rates``: each window's margins are
        read from ``steps`` (the line's shift there) on, off the band scoring nothing."""
        steps = np.rint(rates[:, None] * centres[None, :]).astype(np.int64)
        reach = int(np.abs(steps).max(initial=0)) + 1
        padded = np.zeros((len(margin), width + 2 * reach))
        padded[:, reach:reach + width] = margin
        shifted = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
        totals = shifted[rows, steps + reach].sum(axis=1)  # rates x starts
        rate, start = np.unravel_index(int(totals.argmax()), totals.shape)
        return float(rates[rate]), int(start)

    fine = min(_COARSE_SLOPE, 2.0 / max(items, 1))  # at most an item off at the copy's end
    coarse = np.concatenate([[0.0], np.arange(-MAX_DRIFT, MAX_DRIFT + 1e-9, _COARSE_SLOPE)])
    rate, _ = best_of(coarse if windows > 1 else np.zeros(1))
    rate, start = best_of(np.concatenate(
        [[rate], np.arange(rate - _COARSE_SLOPE, rate + _COARSE_SLOPE + 1e-9, fine)]))
    steps = np.rint(rate * (np.arange(windows) + 0.5) * WINDOW).astype(np.int64)
    return np.minimum(np.maximum(steps + start, 0), width - 1)


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """Where the longest run of True in ``flags`` starts, and its length."""
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    starts, stops = edges[::2], edges[1::2]
    longest = int(np.argmax(stops - starts))
    return int(starts[longest]), int(stops[longest] - starts[longest])
