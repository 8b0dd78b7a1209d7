"""What the trimmed parts of the bundle compute, as JSON: ``GPUWATCH_BUNDLE_SELF_CHECK=1 gpuwatch``.

The bundle's runtime hook (rthooks/pyi_rth_gpuwatch_self_check.py) runs this before the app when the variable is
set; tests/packaging also runs it from source (``python packaging/bundle_self_check.py``) and compares. With the
trimmed ICU data (icu_data.py) Qt must give the same collation, time-zone names, case mapping, IDNA, text
boundaries and single-byte encodings as with PySide6's full data, and the chat must highlight the kept languages
(pygments_trim.py) as from source; only the entries under "left out" differ (valid or highlighted from source,
not in the bundle), which also shows the trimmed parts are the ones in use.
"""

from __future__ import annotations

import json
import os
import sys

from PySide6.QtCore import (
    QByteArray,
    QCollator,
    QDate,
    QDateTime,
    QLocale,
    QStringConverter,
    QStringDecoder,
    QTextBoundaryFinder,
    QTime,
    QTimeZone,
    QUrl,
)

WORDS = ("zebra", "Äpfel", "apple", "Zürich", "éclair", "eclair", "résumé", "resume", "item10", "item9", "Item2")
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
TEXT = "Hello, world! Don't stop. 你好世界。สวัสดีครับ 123.45"
KEPT_ENCODINGS = ("windows-1252", "ISO-8859-15", "KOI8-R", "windows-1251", "UTF-16LE", "US-ASCII")
LEFT_OUT_ENCODINGS = ("Shift_JIS", "GB18030", "Big5")  # multi-byte tables: valid from source, not in the bundle
CODE = {  # a fenced block per kept language (by one of its names), and one Pygments does not know at all
    "python": "def f(x: int) -> int:\n    return x * 2  # twice", "bash": "for n in 1 2; do echo \"$n\"; done",
    "json": '{"gpu": 0, "ok": true}', "yaml": "gpus:\n  - id: 0\n    ok: true", "toml": '[llm]\nmodel = "x"',
    "ini": "[section]\nkey = value", "text": "plain <text>", "diff": "-old\n+new", "c": "int main(void) { return 0; }",
    "cpp": "std::vector<int> v{1, 2};", "cuda": "__global__ void k(float* x) { x[threadIdx.x] = 0; }",
    "sql": "SELECT gpu, MAX(util) FROM samples GROUP BY gpu;", "dockerfile": "FROM python:3.12\nRUN pip install x",
    "hcl": 'resource "runpod_pod" "head" {\n  name = "head"\n}', "console": "$ nvidia-smi -L",
    "no-such-language": "shown as text",
}
LEFT_OUT_CODE = {"rust": "fn main() { let x: u32 = 1; }", "haskell": "main = putStrLn \"hi\""}


def collation() -> dict[str, list[str]]:
    found = {}
    for name in ("en_US", "en_GB", "C"):
        collator = QCollator(QLocale(name))
        found[name] = sorted(WORDS, key=collator.sortKey)
        collator.setNumericMode(True)
        collator.setCaseSensitivity(collator.caseSensitivity().CaseInsensitive)
        found[f"{name} numeric"] = sorted(WORDS, key=collator.sortKey)
    return found


def zone_names() -> dict[str, list[str]]:
    english, moment = QLocale("en_US"), QDateTime(QDate(2024, 1, 15), QTime(12, 0))
    found = {}
    for zone_id in ZONES:
        zone = QTimeZone(zone_id.encode())
        names = [zone.displayName(kind, style, english) for kind in QTimeZone.TimeType for style in QTimeZone.NameType]
        found[zone_id] = [*names, zone.displayName(moment, QTimeZone.NameType.LongName, english)]
    return found


def boundaries() -> dict[str, list[int]]:
    found = {}
    for kind in QTextBoundaryFinder.BoundaryType:
        finder, positions = QTextBoundaryFinder(kind, TEXT), []
        while (position := finder.toNextBoundary()) != -1:
            positions.append(position)
        found[kind.name] = positions
    return found


def highlighted() -> dict[str, list[str]]:
    from gpuwatch_desktop.ui.markdown_render import render_markdown  # the chat's renderer, Pygments behind it

    return {lang: [render_markdown(f"```{lang}\n{code}\n```", theme) for theme in ("dark", "light")]
            for lang, code in CODE.items()}


def report() -> dict[str, object]:
    from gpuwatch_desktop.ui.markdown_render import render_markdown

    return {
        "collation": collation(),
        "zone names": zone_names(),
        "upper": [QLocale(name).toUpper("istanbul straße") for name in ("tr_TR", "en_US", "de_DE")],
        "lower": [QLocale(name).toLower("ISTANBUL ΣΊΣΥΦΟΣ") for name in ("tr_TR", "en_US", "el_GR")],
        "idna": [bytes(QUrl.fromUserInput("bücher.example").toEncoded().data()).decode(),
                 bytes(QUrl.toAce("ουτοπία.δπθ.gr").data()).decode(), QUrl.fromAce(QByteArray(b"xn--mnchen-3ya.de"))],
        "boundaries": boundaries(),
        "encodings": {name: [QStringDecoder(name).isValid(), QStringDecoder(name).name()] for name in KEPT_ENCODINGS},
        "codecs": sorted(set(KEPT_ENCODINGS) & set(QStringConverter.availableCodecs())),
        "numbers": [QLocale(name).toString(1234567.891, "f", 2) for name in ("en_US", "de_DE")],
        "code blocks": highlighted(),
        "left out": {
            "encodings valid": {name: QStringDecoder(name).isValid() for name in LEFT_OUT_ENCODINGS},
            "languages highlighted": {lang: "<span style=" in render_markdown(f"```{lang}\n{code}\n```")
                                      for lang, code in LEFT_OUT_CODE.items()},
        },
    }


def main() -> None:
    """Print the report and end the process (in the bundle: before the app has started anything)."""
    print(json.dumps(report(), ensure_ascii=False, indent=1), flush=True)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
