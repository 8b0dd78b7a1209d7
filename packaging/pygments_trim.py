"""Which Pygments lexers, styles and formatters the bundle keeps, for the chat's highlighted code blocks.

PyInstaller's Pygments hook collects every lexer (~600 languages, 1.5 MB compressed). The chat (ui/markdown_render.py:
markdown's codehilite, ``guess_lang`` off) needs the languages an assistant answers a GPU-cluster question in, two
styles and the HTML formatter. ``plan()`` lists the modules to leave out (every lexer, style and formatter module
the kept ones do not import) and writes Pygments' name tables (``_mapping`` modules) without the left-out entries,
which the spec puts in place of the originals: a fence naming a left-out language then finds no lexer, and
codehilite shows it as plain text, as it does for a language Pygments does not know at all.
"""

from __future__ import annotations

import json
import pprint
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# pygments.lexers modules: Python; Bash and shell sessions; JSON and YAML; INI, TOML, Dockerfile, Terraform/HCL,
# nginx and other configs; plain text; diff; C and C++; CUDA (C-like); SQL and psql sessions
KEPT_LEXERS = ("python", "shell", "data", "configs", "special", "diff", "c_cpp", "c_like", "sql")
KEPT_STYLES = ("default", "gh_dark")  # ui/markdown_render.py's PYGMENTS_STYLES: "default" and "github-dark"
KEPT_FORMATTERS = ("html",)  # codehilite's
TABLES = {"lexers": "LEXERS", "styles": "STYLES", "formatters": "FORMATTERS"}

_IMPORTED = """\
import importlib, json, pkgutil, sys
import pygments.formatters, pygments.lexers, pygments.styles
available = [name for package in (pygments.lexers, pygments.styles, pygments.formatters)
             for _, name, _ in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({"available": available, "imported": sorted(n for n in sys.modules if n.startswith("pygments."))}))
"""


@dataclass(frozen=True, slots=True)
class Plan:
    excludes: tuple[str, ...]  # module names for the spec's excludes
    mappings: dict[str, Path]  # "pygments.lexers._mapping" -> the trimmed table written by plan()


def _modules() -> tuple[list[str], set[str]]:
    """Every lexer/style/formatter module, and those the kept ones import (in a fresh interpreter)."""
    kept = [f"pygments.lexers.{m}" for m in KEPT_LEXERS] + [f"pygments.styles.{m}" for m in KEPT_STYLES] + [
        f"pygments.formatters.{m}" for m in KEPT_FORMATTERS]
    result = subprocess.run([sys.executable, "-c", _IMPORTED, *kept], capture_output=True, text=True, check=True)
    found = json.loads(result.stdout)
    return found["available"], set(found["imported"])


def _write_table(package: str, needed: set[str], out_dir: Path) -> Path:
    module = __import__(f"pygments.{package}._mapping", fromlist=["_mapping"])
    table = {name: entry for name, entry in getattr(module, TABLES[package]).items() if entry[0] in needed}
    path = out_dir / f"{package}_mapping.py"
    path.write_text(f'"""Pygments\' {package} table for the GPU Watchdog bundle: packaging/pygments_trim.py."""\n\n'
                    f"{TABLES[package]} = {pprint.pformat(table, width=120)}\n")
    return path


def plan(out_dir: Path) -> Plan:
    available, needed = _modules()
    out_dir.mkdir(parents=True, exist_ok=True)
    mappings = {f"pygments.{package}._mapping": _write_table(package, needed, out_dir) for package in TABLES}
    excludes = tuple(name for name in available if name not in needed and not name.endswith("._mapping"))
    return Plan(excludes, mappings)


def substitute(pure: list[tuple[str, str, str]], mappings: dict[str, Path], code_cache: dict | None) -> int:
    """Point the PYZ's entries for the tables at the trimmed files (and their cached code objects); how many."""
    replaced = 0
    for index, (name, _, kind) in enumerate(pure):
        if name in mappings:
            pure[index] = (name, str(mappings[name]), kind)
            if code_cache is not None:
                code_cache[name] = compile(mappings[name].read_text(), str(mappings[name]), "exec")
            replaced += 1
    return replaced
