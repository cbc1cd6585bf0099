"""Paging a mapped weights file in whole: after `page_in` every page of the mapping is resident."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import pytest

from core import mapped_files

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")

SIZE = 4 * 1024 * 1024


def resident_kb(path: Path) -> int:
    """The resident size of this process's mappings of `path`, from /proc/self/smaps."""
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                inside = len(fields) >= 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


@pytest.fixture
def mapped(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * (SIZE // 256))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as region:
        yield path.resolve(), region


def test_page_in_makes_every_page_resident(mapped) -> None:  # type: ignore[no-untyped-def]
    path, region = mapped
    assert region[0] == 0  # one page read, as a model reads its header
    assert resident_kb(path) < SIZE // 1024
    assert mapped_files.page_in(path) == SIZE
    assert resident_kb(path) == SIZE // 1024


def test_a_folder_pages_in_the_files_under_it(mapped) -> None:  # type: ignore[no-untyped-def]
    path, _ = mapped
    assert mapped_files.page_in(path.parent) == SIZE
    assert resident_kb(path) == SIZE // 1024


def test_touching_is_the_fallback_without_madvise(mapped, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path, _ = mapped
    monkeypatch.setattr(mapped_files, "MADV_POPULATE_READ", -1)  # an advice the kernel refuses
    assert mapped_files.page_in(path) == SIZE
    assert resident_kb(path) == SIZE // 1024


def test_a_file_not_mapped_pages_in_nothing(tmp_path: Path) -> None:
    (tmp_path / "other.bin").write_bytes(b"x" * 8192)
    assert mapped_files.page_in(tmp_path / "other.bin") == 0


def test_mappings_reads_only_readable_ranges_of_the_file(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    weights = tmp_path / "m" / "model.gguf"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    maps.write_text(
        f"7f0000000000-7f0000002000 r--s 00000000 00:2a 12 {weights}\n"
        f"7f0000002000-7f0000003000 ---p 00000000 00:2a 12 {weights}\n"
        f"7f0000003000-7f0000004000 r--p 00000000 00:2a 13 {weights}.other\n"
        "7f0000004000-7f0000005000 rw-p 00000000 00:00 0 \n"
    )
    assert mapped_files.mappings(weights, str(maps)) == [(0x7F0000000000, 0x7F0000002000)]
    assert mapped_files.mappings(weights.parent, str(maps)) == [
        (0x7F0000000000, 0x7F0000002000),
        (0x7F0000003000, 0x7F0000004000),
    ]
