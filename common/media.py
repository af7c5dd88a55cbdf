"""Does a file's content match the media type its sender declared?

A client's file part says what it is (``mediaType``) and carries the bytes. The agent, the
model behind it and whoever downloads an artifact trust that label, so a label the bytes
clearly contradict is refused: a "PNG" that does not start with the PNG signature, a "PDF"
without ``%PDF-``, "text" that is not valid text in its charset.

The check is a table, not a guess. ``SIGNATURES`` lists, per media type, the magic bytes
every file of that type starts with (WHATWG MIME Sniffing §6, the formats' own specs);
``TEXT_TYPES`` lists the types whose bytes must decode as text. A type in neither table
(``application/octet-stream``, a vendor type, anything new) is accepted as declared:
refusing only what is certainly wrong keeps unusual but honest clients working. Nothing
here looks at file extensions, and nothing executes or parses the content.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """Bytes that a file of some type carries at a fixed offset (and optionally a second mark).

    RIFF containers (WebP, WAVE) share "RIFF" at 0 and name their form at 8, hence ``then``.
    """

    prefix: bytes
    offset: int = 0
    then: tuple[int, bytes] | None = None

    def matches(self, data: bytes) -> bool:
        if data[self.offset : self.offset + len(self.prefix)] != self.prefix:
            return False
        if self.then is None:
            return True
        offset, mark = self.then
        return data[offset : offset + len(mark)] == mark


@dataclass(frozen=True)
class Format:
    """A family of files: what to call it in an error, and its possible signatures."""

    name: str
    signatures: tuple[Signature, ...]

    def matches(self, data: bytes) -> bool:
        return any(signature.matches(data) for signature in self.signatures)


PNG = Format("a PNG image", (Signature(b"\x89PNG\r\n\x1a\n"),))
JPEG = Format("a JPEG image", (Signature(b"\xff\xd8\xff"),))
GIF = Format("a GIF image", (Signature(b"GIF87a"), Signature(b"GIF89a")))
WEBP = Format("a WebP image", (Signature(b"RIFF", then=(8, b"WEBP")),))
BMP = Format("a BMP image", (Signature(b"BM"),))
TIFF = Format("a TIFF image", (Signature(b"II*\x00"), Signature(b"MM\x00*")))
ICO = Format("an icon", (Signature(b"\x00\x00\x01\x00"), Signature(b"\x00\x00\x02\x00")))
# ISO base media files (MP4, MOV, HEIF, AVIF) start with a box whose type is "ftyp".
ISO_MEDIA = Format("an ISO media file", (Signature(b"ftyp", offset=4),))
PDF = Format("a PDF document", (Signature(b"%PDF-"),))
# Local file header, or the end record of an empty archive, or a spanned archive.
ZIP = Format(
    "a ZIP archive",
    (Signature(b"PK\x03\x04"), Signature(b"PK\x05\x06"), Signature(b"PK\x07\x08")),
)
GZIP = Format("a gzip file", (Signature(b"\x1f\x8b"),))
BZIP2 = Format("a bzip2 file", (Signature(b"BZh"),))
SEVEN_ZIP = Format("a 7z archive", (Signature(b"7z\xbc\xaf\x27\x1c"),))
TAR = Format("a tar archive", (Signature(b"ustar", offset=257),))
WASM = Format("a WebAssembly module", (Signature(b"\x00asm"),))
WAV = Format("a WAVE audio file", (Signature(b"RIFF", then=(8, b"WAVE")),))
OGG = Format("an Ogg file", (Signature(b"OggS"),))
FLAC = Format("a FLAC audio file", (Signature(b"fLaC"),))
# Matroska and WebM share the EBML header.
EBML = Format("a WebM/Matroska file", (Signature(b"\x1a\x45\xdf\xa3"),))

SIGNATURES: dict[str, Format] = {
    "image/png": PNG,
    "image/x-png": PNG,
    "image/apng": PNG,
    "image/jpeg": JPEG,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/gif": GIF,
    "image/webp": WEBP,
    "image/bmp": BMP,
    "image/x-bmp": BMP,
    "image/tiff": TIFF,
    "image/x-icon": ICO,
    "image/vnd.microsoft.icon": ICO,
    "image/avif": ISO_MEDIA,
    "image/heic": ISO_MEDIA,
    "image/heif": ISO_MEDIA,
    "video/mp4": ISO_MEDIA,
    "video/quicktime": ISO_MEDIA,
    "audio/mp4": ISO_MEDIA,
    "application/pdf": PDF,
    "application/x-pdf": PDF,
    "application/zip": ZIP,
    "application/x-zip-compressed": ZIP,
    "application/epub+zip": ZIP,
    "application/java-archive": ZIP,
    "application/gzip": GZIP,
    "application/x-gzip": GZIP,
    "application/x-bzip2": BZIP2,
    "application/x-7z-compressed": SEVEN_ZIP,
    "application/x-tar": TAR,
    "application/wasm": WASM,
    "audio/wav": WAV,
    "audio/wave": WAV,
    "audio/x-wav": WAV,
    "audio/vnd.wave": WAV,
    "audio/ogg": OGG,
    "video/ogg": OGG,
    "application/ogg": OGG,
    "audio/flac": FLAC,
    "audio/x-flac": FLAC,
    "video/webm": EBML,
    "audio/webm": EBML,
    "video/x-matroska": EBML,
}
# Office Open XML and OpenDocument files are ZIP archives; "+zip" types say so by name.
ZIP_TYPE_PREFIXES = (
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)

# Types whose content is text: UTF-8 unless a charset parameter says otherwise. JSON is
# UTF-8 by definition (RFC 8259 §8.1), with or without a charset.
TEXT_TYPES = ("text/",)
UTF8_TYPES = ("application/json",)
UTF8_SUFFIXES = ("+json",)


def _essence_and_charset(media_type: str) -> tuple[str, str | None]:
    """Return the lower-cased ``type/subtype`` and the charset parameter, if any."""
    essence, *parameters = media_type.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return essence.strip().lower(), charset


def _format_of(essence: str) -> Format | None:
    if essence in SIGNATURES:
        return SIGNATURES[essence]
    if essence.endswith("+zip") or essence.startswith(ZIP_TYPE_PREFIXES):
        return ZIP
    return None


def _text_problem(essence: str, data: bytes, charset: str) -> str | None:
    """Return why data is not text in charset, None when it is."""
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        return f"declared {essence} with the unknown charset {charset[:40]!r}"
    try:
        data.decode(codec.name)
    except LookupError:
        # rot13, base64, hex...: codecs, but not charsets (bytes.decode refuses them).
        return f"declared {essence} with {charset[:40]!r}, which is not a text charset"
    except (UnicodeDecodeError, ValueError):
        return f"declared {essence}, but the bytes are not valid {codec.name} text"
    return None


def media_type_mismatch(media_type: str, data: bytes) -> str | None:
    """Return why data cannot be what media_type declares, or None when it may be.

    media_type must already have the ``type/subtype[; parameters]`` shape.
    """
    essence, charset = _essence_and_charset(media_type)
    expected = _format_of(essence)
    if expected is not None:
        if not expected.matches(data):
            return f"declared {essence}, but the bytes are not {expected.name}"
        return None
    if essence.startswith(TEXT_TYPES):
        return _text_problem(essence, data, charset or "utf-8")
    if essence in UTF8_TYPES or essence.endswith(UTF8_SUFFIXES):
        return _text_problem(essence, data, "utf-8")
    return None
