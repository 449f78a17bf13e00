"""How many frames an audio file really holds: its header's claim checked against its bytes.

Decoders trust the header: a WAV cut short in a copy (its header still says 10 s, its data holds 0.03 s) reads as
10 s padded with silence, and a truncated FLAC or AIFF does the same. :func:`stored_frames` parses the container
(WAV/RF64, AIFF/AIFC, native FLAC) to count the frames whose bytes are present, without decoding anything, so a
loader can refuse the file by name or read only what it holds. For formats whose length the decoder itself
counts from the data (MP3, Ogg) it returns ``None``.

Every read is bounded (headers, and at most :data:`FLAC_TAIL_BYTES` of a FLAC's end), so a hostile header cannot
make it allocate or loop without limit.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_CHUNKS = 4096
"""Chunks walked in a RIFF/AIFF file before giving up: real files have a handful."""
FLAC_TAIL_BYTES = 1 << 20
"""Bytes read from a FLAC's end to find its last frame (FLAC frames are at most ~1 MB at the format's limits)."""


@dataclass(frozen=True)
class StoredFrames:
    """A file's length in frames as its header declares it and as its bytes hold it."""

    declared: int
    held: int

    @property
    def truncated(self) -> bool:
        return self.held < self.declared


def stored_frames(path: str | os.PathLike[str]) -> StoredFrames | None:
    """The declared and present frame counts of a WAV, AIFF or FLAC file; ``None`` for other or unparsable files.

    ``None`` means "no opinion": the caller keeps the decoder's count (and the decoder reports undecodable files).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
            if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
                return _wav(f, size)
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff(f, size)
            start = _id3v2_size(head)
            f.seek(start)
            if f.read(4) == b"fLaC":
                return _flac(f, size)
    except (OSError, struct.error, ValueError):
        return None
    return None


def _chunks(f: BinaryIO, size: int, endian: str):
    """(id, body offset, declared body size) of each chunk after a 12-byte RIFF/FORM header."""
    offset = 12
    for _ in range(MAX_CHUNKS):
        if offset + 8 > size:
            return
        f.seek(offset)
        chunk_id, length = struct.unpack(endian + "4sI", f.read(8))
        yield chunk_id, offset + 8, length
        offset += 8 + length + (length & 1)


def _wav(f: BinaryIO, size: int) -> StoredFrames | None:
    block_align, data_size = 0, None
    rf64_data_size = None
    for chunk_id, body, length in _chunks(f, size, "<"):
        f.seek(body)
        if chunk_id == b"ds64":
            rf64_data_size = struct.unpack("<Q", f.read(16)[8:16])[0]
        elif chunk_id == b"fmt ":
            block_align = struct.unpack("<H", f.read(14)[12:14])[0]
        elif chunk_id == b"data":
            declared = rf64_data_size if length == 0xFFFFFFFF and rf64_data_size is not None else length
            data_size = (declared, size - body)
            break
    if not block_align or data_size is None or data_size[0] == 0xFFFFFFFF:
        return None  # a streaming header (size unknown): the decoder counts
    declared, present = data_size
    return StoredFrames(declared // block_align, min(declared, present) // block_align)


def _aiff(f: BinaryIO, size: int) -> StoredFrames | None:
    channels = frames = bits = None
    ssnd = None
    for chunk_id, body, length in _chunks(f, size, ">"):
        f.seek(body)
        if chunk_id == b"COMM":
            channels, frames, bits = struct.unpack(">hIh", f.read(8))
            compression = f.read(10 + 4)[10:14] if length >= 22 else b"NONE"
            if compression not in (b"NONE", b"sowt", b"twos", b"fl32", b"FL32", b"fl64", b"FL64", b""):
                return None  # compressed AIFC: the decoder counts
        elif chunk_id == b"SSND":
            data_offset = struct.unpack(">I", f.read(4))[0]
            ssnd = body + 8 + data_offset
    if not channels or channels < 0 or not bits or bits < 0 or frames is None or ssnd is None:
        return None
    frame_bytes = channels * ((bits + 7) // 8)
    return StoredFrames(frames, min(frames, max(0, size - ssnd) // frame_bytes))


def _id3v2_size(head: bytes) -> int:
    """Bytes of an ID3v2 tag at the file's start (some FLAC writers add one), 0 if there is none."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    return 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))


def _flac(f: BinaryIO, size: int) -> StoredFrames | None:
    """Count the frames up to the last complete FLAC frame, found by scanning the file's tail for frame headers."""
    header = f.read(4)
    if len(header) < 4 or header[0] & 0x7F != 0:  # the first metadata block must be STREAMINFO
        return None
    info = f.read(34)
    max_block = struct.unpack(">H", info[2:4])[0]
    bits = int.from_bytes(info[10:18], "big")
    total = bits & ((1 << 36) - 1)
    if total == 0 or max_block < 16:
        return None  # length unknown to the header: nothing to check against
    start = max(0, size - FLAC_TAIL_BYTES)
    f.seek(start)
    tail = f.read(FLAC_TAIL_BYTES)
    if tail[-128:-125] == b"TAG":  # an ID3v1 tag after the last frame
        tail = tail[:-128]
    headers = [
        (m.start(), *frame)
        for m in re.finditer(b"\xff[\xf8\xf9]", tail)
        if (frame := _frame_header(tail, m.start(), max_block)) is not None
    ]
    if not headers:
        return StoredFrames(total, 0) if start == 0 else None
    # The file ends with a complete frame if the CRC-16 from a frame header to the end checks out; a chance match
    # of a header pattern inside the last frame is skipped by trying the last few headers.
    for position, first_sample, block in reversed(headers[-3:]):
        if _crc16(tail[position:-2]) == int.from_bytes(tail[-2:], "big"):
            return StoredFrames(total, min(total, first_sample + block))
    return StoredFrames(total, min(total, headers[-1][1]))


_BLOCK_SIZES = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608}


def _frame_header(data: bytes, at: int, fixed_block: int) -> tuple[int, int] | None:
    """(first sample, block size) of a FLAC frame header at ``data[at:]`` whose CRC-8 checks out, else ``None``.

    A fixed-blocksize stream numbers its frames, each ``fixed_block`` samples but the last; a variable one numbers
    their first samples.
    """
    if at + 6 > len(data) or data[at + 1] not in (0xF8, 0xF9) or data[at + 3] & 0x01:
        return None
    variable = data[at + 1] == 0xF9
    size_code, rate_code = data[at + 2] >> 4, data[at + 2] & 0x0F
    if size_code == 0 or rate_code == 0x0F or (data[at + 3] >> 4) > 10:
        return None
    number, used = _utf8_number(data, at + 4)
    if number is None:
        return None
    end = at + 4 + used
    if size_code == 6:
        block, end = data[end] + 1 if end < len(data) else 0, end + 1
    elif size_code == 7:
        block, end = int.from_bytes(data[end : end + 2], "big") + 1, end + 2
    else:
        block = _BLOCK_SIZES.get(size_code, 256 << (size_code - 8) if size_code >= 8 else 0)
    end += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if end >= len(data) or block <= 0 or _crc8(data[at:end]) != data[end]:
        return None
    if variable:
        return number, block
    return number * fixed_block, block


def _utf8_number(data: bytes, at: int) -> tuple[int | None, int]:
    """FLAC's UTF-8-style coded frame/sample number at ``data[at:]``: (value, bytes used), or (None, 0)."""
    if at >= len(data):
        return None, 0
    first = data[at]
    if first < 0x80:
        return first, 1
    extra = next((n for n in range(1, 7) if first & (0x80 >> (n + 1)) == 0), None)
    if extra is None or first & 0x40 == 0 or at + extra >= len(data):
        return None, 0
    value = first & (0x3F >> extra)
    for byte in data[at + 1 : at + 1 + extra]:
        if byte & 0xC0 != 0x80:
            return None, 0
        value = value << 6 | (byte & 0x3F)
    return value, 1 + extra


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_CRC16_TABLE = []
for _i in range(256):
    _c = _i << 8
    for _ in range(8):
        _c = ((_c << 1) ^ 0x8005) & 0xFFFF if _c & 0x8000 else (_c << 1) & 0xFFFF
    _CRC16_TABLE.append(_c)


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16_TABLE[(crc >> 8) ^ byte]
    return crc
