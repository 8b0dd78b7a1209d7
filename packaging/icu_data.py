"""A trimmed ICU data library for the Linux bundle: PySide6's libicudata.so.NN with only what Qt uses.

PySide6's wheel ships ICU's full data (32 MB: every locale, collation, converter, dictionary). Qt keeps its own
locale data, Unicode tables, IDNA and text boundaries, and calls ICU lazily: collation (QCollator, file dialogs),
time-zone names (QTimeZone), encodings it lacks itself (QStringDecoder by name) and locale-aware case mapping
(case mapping and NFC need no data file). The app is English only, so the library built here keeps the root and
English locales, root/English collation with the UCA table, time-zone rules and names, the NFKC and UTS #46
normalization data, the converter aliases and the windows-125x, ISO-8859 and KOI8 tables (UTF-8/16/32, Latin-1
and ASCII are in ICU's code). It leaves out the other locales (they fall back to root: e.g. Swedish sorts Ä with
A), break iterators and their dictionaries (Qt segments text itself), transliteration, number spell-out, currency,
unit, language and region names, stringprep, the spoof checker, character names and the multi-byte (CJK)
converters. packaging/rthooks/pyi_rth_gpuwatch_self_check.py checks Qt's answers are unchanged.

The data is ICU's common-data package (format "CmnD" 1: header, table of contents, items), read from the
library's ``icudtNN_dat`` symbol, filtered, and linked back into a shared library with the same soname and symbol
by the C compiler (an assembler file that ``.incbin``s it). Run it to see what is kept::

    python packaging/icu_data.py PATH/TO/libicudata.so.73 [OUT_DIR]
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOCALES = frozenset({"root", "en", "en_001", "en_150", "en_GB", "en_US", "en_US_POSIX"})  # en_* fall back to en_001
TOP_LEVEL_DATA = frozenset({  # non-locale resource bundles in the package's root
    "res_index", "pool", "supplementalData", "likelySubtags", "metadata", "metaZones", "timezoneTypes", "zoneinfo64",
    "windowsZones", "keyTypeData", "numberingSystems", "icuver", "icustd", "plurals", "pluralRanges",
})
KEPT_FILES = frozenset({"cnvalias.icu", "ulayout.icu", "uemoji.icu", "coll/ucadata.icu"})
# single-byte tables kept: windows-1250..1258, ISO-8859-2..16, KOI8-R/U (the multi-byte CJK tables are most of the size)
KEPT_CONVERTERS = re.compile(r"ibm-53(4[6-9]|5[0-4])_.*|ibm-(912|913|914|915|1089|813|916|920|921|923|878|1168)_.*"
                             r"|iso-8859_\d+-.*")
LOCALE_TREES = frozenset({"coll", "zone"})  # subtrees kept for LOCALES only
TREE_DATA = frozenset({"res_index", "pool", "tzdbNames"})


@dataclass(frozen=True, slots=True)
class Item:
    name: str  # without the package prefix, e.g. "coll/root.res"
    data: bytes


@dataclass(frozen=True, slots=True)
class Package:
    header: bytes  # copied verbatim (format, version, copyright)
    prefix: str  # "icudt73l"
    items: tuple[Item, ...]

    @property
    def size(self) -> int:
        return sum(len(item.data) for item in self.items)


def read_package(blob: bytes) -> Package:
    """Parse a little-endian ICU common-data package; ValueError when it is not one."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD" or blob[16] != 1 or blob[8] != 0:
        raise ValueError("not a little-endian ICU common-data package (CmnD 1)")
    (count,) = struct.unpack_from("<I", blob, header_size)
    entries = [struct.unpack_from("<II", blob, header_size + 4 + 8 * i) for i in range(count)]
    items, prefix = [], ""
    for index, (name_offset, data_offset) in enumerate(entries):
        start = header_size + name_offset
        full_name = blob[start:blob.index(b"\0", start)].decode("ascii")
        prefix, _, name = full_name.partition("/")
        end = header_size + (entries[index + 1][1] if index + 1 < count else len(blob) - header_size)
        items.append(Item(name, blob[header_size + data_offset:end]))
    return Package(blob[:header_size], prefix, tuple(items))


def write_package(package: Package) -> bytes:
    """The package as ICU reads it: items in name order (ICU binary-searches them), each 16-byte aligned."""
    items = sorted(package.items, key=lambda item: f"{package.prefix}/{item.name}".encode())
    names = b"".join(f"{package.prefix}/{item.name}".encode() + b"\0" for item in items)
    toc_size = 4 + 8 * len(items)
    data_start = -(-(toc_size + len(names)) // 16) * 16
    table, data, name_offset = [struct.pack("<I", len(items))], bytearray(), toc_size
    for item in items:
        table.append(struct.pack("<II", name_offset, data_start + len(data)))
        name_offset += len(f"{package.prefix}/{item.name}") + 1
        data += item.data + b"\0" * (-len(item.data) % 16)
    toc = b"".join(table) + names
    return package.header + toc + b"\0" * (data_start - len(toc)) + bytes(data)


def _single_byte_table(data: bytes) -> bool:
    """Whether a .cnv item is a complete single-byte table (not multi-byte, not an extension of another table)."""
    (header_size,) = struct.unpack_from("<H", data, 0)
    (static_size,) = struct.unpack_from("<I", data, header_size)
    max_bytes_per_char = data[header_size + 71]  # UConverterStaticData: size, name[60], codepage, platform, type, min
    (count_states,) = struct.unpack_from("<I", data, header_size + static_size + 4)  # _MBCSHeader: version, states
    return max_bytes_per_char == 1 and count_states > 0


def keep(item: Item) -> bool:
    """Whether the trimmed package keeps this item (see the module docstring for the reasons)."""
    tree, _, leaf = item.name.rpartition("/")
    stem, _, kind = leaf.rpartition(".")
    if item.name in KEPT_FILES or kind == "nrm":
        return True
    if kind == "cnv":
        return not tree and KEPT_CONVERTERS.fullmatch(stem) is not None and _single_byte_table(item.data)
    if kind != "res":
        return False
    if not tree:
        return stem in LOCALES or stem in TOP_LEVEL_DATA
    return tree in LOCALE_TREES and (stem in LOCALES or stem in TREE_DATA)


def trim(package: Package) -> Package:
    return Package(package.header, package.prefix, tuple(item for item in package.items if keep(item)))


def _elf_symbol(blob: bytes, wanted: bytes) -> bytes:
    """The bytes of a defined dynamic symbol of a little-endian ELF64 shared library."""
    if blob[:4] != b"\x7fELF" or blob[4] != 2 or blob[5] != 1:
        raise ValueError("not a little-endian 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", blob, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", blob, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", blob, shoff + i * shentsize) for i in range(shnum)]
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != 11:  # SHT_DYNSYM
            continue
        strtab = sections[link]
        for start in range(offset, offset + size, entsize):
            name, _, _, shndx, value, length = struct.unpack_from("<IBBHQQ", blob, start)
            end = blob.index(b"\0", strtab[4] + name)
            if blob[strtab[4] + name:end] == wanted and shndx:
                section = sections[shndx]
                file_offset = value - section[3] + section[4]
                return blob[file_offset:file_offset + length]
    raise ValueError(f"symbol {wanted.decode()} not found")


def _assembly(symbol: str, data_file: Path, size: int) -> str:
    return (f'\t.section .rodata\n\t.balign 16\n\t.globl {symbol}\n\t.type {symbol}, STT_OBJECT\n'
            f'\t.size {symbol}, {size}\n{symbol}:\n\t.incbin "{data_file}"\n'
            '\t.section .note.GNU-stack,"",%progbits\n')


def build_library(package: Package, soname: str, out_dir: Path) -> Path:
    """Link the package into ``out_dir/soname`` exporting ``icudtNN_dat``; RuntimeError without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("building the trimmed ICU data needs a C compiler (apt-get install gcc)")
    out_dir.mkdir(parents=True, exist_ok=True)
    data_file = out_dir / f"{package.prefix}.dat"
    blob = write_package(package)
    data_file.write_bytes(blob)
    source = out_dir / "icudata.S"
    source.write_text(_assembly(f"{package.prefix[:-1]}_dat", data_file.resolve(), len(blob)))
    target = out_dir / soname
    result = subprocess.run([compiler, "-shared", "-nostdlib", f"-Wl,-soname,{soname}", "-Wl,-z,noexecstack",
                             "-o", str(target), str(source)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"linking the trimmed ICU data failed: {result.stderr.strip()}")
    return target


def trimmed_library(original: Path, out_dir: Path) -> tuple[Path, Package, Package]:
    """Build ``out_dir/<original's name>`` from ``original`` (libicudata.so.NN); returns it, the full and the kept."""
    match = re.fullmatch(r"libicudata\.so\.(\d+)", original.name)
    if match is None:
        raise ValueError(f"{original.name} is not libicudata.so.<version>")
    full = read_package(_elf_symbol(original.read_bytes(), f"icudt{match[1]}_dat".encode()))
    kept = trim(full)
    return build_library(kept, original.name, out_dir), full, kept


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[-1].strip())
        return 2
    out_dir = Path(argv[1] if len(argv) == 2 else "build/icu")
    library, full, kept = trimmed_library(Path(argv[0]), out_dir)
    for item in kept.items:
        print(f"{len(item.data):9d}  {item.name}")
    print(f"{library}: kept {len(kept.items)} of {len(full.items)} items, "
          f"{kept.size / 1e6:.1f} of {full.size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
