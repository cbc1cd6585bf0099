"""Uploaded files to plain text: type and size checks, then text/Markdown/PDF extraction.

`check_upload` is cheap and runs when a file arrives, so a bad upload is refused before anything
is stored. `parse` is blocking (PDF extraction is CPU work) and runs in the ingestion executor.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from knowledge.errors import DocumentUnreadable, UploadRejected

TEXT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"}
PDF_TYPE = "application/pdf"
EXTENSIONS = {**TEXT_TYPES, ".pdf": PDF_TYPE}
MAX_PDF_PAGES = 500


@dataclass(frozen=True)
class Section:
    """A stretch of a document's text and where it is (a heading, a page)."""

    text: str
    location: str = ""


def media_type_for(filename: str) -> str:
    """The media type a file name's extension stands for, or a 415 saying what is accepted."""
    if "/" in filename or "\\" in filename or filename.startswith(".") or "\x00" in filename:
        raise UploadRejected(
            "file names may not contain directories or start with a dot", code="bad_filename"
        )
    dot = filename.rfind(".")
    ext = filename[dot:].lower() if dot > 0 else ""
    if ext not in EXTENSIONS:
        raise UploadRejected(
            "only .txt, .md and .pdf files can be added", status=415, code="unsupported_type"
        )
    return EXTENSIONS[ext]


def check_upload(content: bytes, media_type: str, *, max_bytes: int) -> None:
    """Refuse empty, oversized, mislabelled or binary content."""
    if not content.strip():
        raise UploadRejected("the file is empty", code="empty_document")
    if len(content) > max_bytes:
        raise UploadRejected(
            f"files are limited to {max_bytes // 1_000_000} MB", status=413, code="too_large"
        )
    if media_type == PDF_TYPE:
        if not content.startswith(b"%PDF-"):
            raise UploadRejected("the file is not a PDF", status=415, code="unsupported_type")
        return
    decode_text(content)


def decode_text(content: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 for older Chinese files."""
    if b"\x00" in content and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UploadRejected("the file is not text", status=415, code="unsupported_type")
    for encoding in ("utf-8-sig", "utf-16", "gb18030"):
        if encoding == "utf-16" and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UploadRejected("the file is not UTF-8 text", status=415, code="unsupported_type")


def parse(content: bytes, media_type: str) -> list[Section]:
    """The document's sections. Blocking: call it in an executor."""
    if media_type == PDF_TYPE:
        return _parse_pdf(content)
    try:
        text = decode_text(content)
    except UploadRejected as exc:
        raise DocumentUnreadable(str(exc)) from exc
    if media_type == "text/markdown":
        return _parse_markdown(text)
    return [Section(text=text.strip())] if text.strip() else []


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"(\*\*|__|`+|^\s*>\s?|^\s*[-*+]\s+|^\s*\d+\.\s+)", re.MULTILINE)


def markdown_title(content: bytes) -> str | None:
    """A Markdown document's own title: a level-1 heading that opens it and has no text of its
    own (the next line with words is another heading). A first heading with text under it is
    the first section's name, not the document's."""
    lines = [line for line in content.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].startswith("# ") or not _HEADING.match(lines[1]):
        return None
    title = _MARKUP.sub("", _LINK.sub(r"\1", lines[0][2:])).strip(" #")
    return " ".join(re.sub(r"[\x00-\x1f\x7f<>]+", " ", title).split())[:120] or None


def _parse_markdown(text: str) -> list[Section]:
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []

    def flush() -> None:
        body = _MARKUP.sub("", _LINK.sub(r"\1", "\n".join(lines))).strip()
        if body:
            sections.append(Section(text=body, location=heading))
        lines.clear()

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            flush()
            heading = match.group(2)[:200]
        else:
            lines.append(line)
    flush()
    return sections


def _parse_pdf(content: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise DocumentUnreadable("the PDF is encrypted")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise DocumentUnreadable(f"PDFs are limited to {MAX_PDF_PAGES} pages")
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                sections.append(Section(text=text, location=f"page {number}"))
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable(f"the PDF cannot be read: {type(exc).__name__}") from exc
    if not sections:
        raise DocumentUnreadable("the PDF has no extractable text (is it scanned?)")
    return sections
