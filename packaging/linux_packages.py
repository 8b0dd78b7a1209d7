"""The Linux packages of a built bundle: gpuwatch-<version>-linux-<arch>.tar.gz and gpuwatch_<version>_<arch>.deb.

The .deb installs the bundle under /opt/gpuwatch, a launcher at /usr/bin/gpuwatch, the menu entry and the icons;
it is built with ``dpkg-deb`` (no debhelper needed), owned by root without fakeroot (``--root-owner-group``).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DESKTOP_FILE = HERE / "linux" / "gpuwatch.desktop"
INSTALL_SCRIPT = HERE / "linux" / "install.sh"
SVG_ICON = ROOT / "resources" / "icons" / "gpuwatch.svg"

# Shared libraries the bundle does not carry (PyInstaller leaves the graphics stack, libxcb and Wayland to the
# system, gpuwatch.spec the C++ runtime, GLib, X11, fonts, D-Bus and others; a few were missing on the build machine)
# or may carry from the build machine: soname -> Debian package.
# The .deb depends on every package here; the packaging test checks every library the bundle cannot resolve is here.
SYSTEM_LIBRARIES: dict[str, str] = {
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3", "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1", "libxcb.so.1": "libxcb1", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libwayland-client.so.0": "libwayland-client0", "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    # left out of the bundle on purpose (gpuwatch.spec: the system's copy is the one to use)
    "libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1", "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0", "libz.so.1": "zlib1g", "libuuid.so.1": "libuuid1",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2", "libssl.so.3": "libssl3", "libcrypto.so.3": "libssl3",
}
RECOMMENDS = "gnome-keyring | kwalletmanager | keepassxc"  # a Secret Service provider for the keyring
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def machine() -> str:
    return platform.machine().lower()


def tarball_name(version: str) -> str:
    return f"gpuwatch-{version}-linux-{machine()}.tar.gz"


def deb_name(version: str) -> str:
    return f"gpuwatch_{version}_{DEB_ARCH.get(machine(), machine())}.deb"


def _icon_files(icons: Path) -> list[tuple[Path, str]]:
    """(source, path under share/icons/hicolor) for the SVG and every rendered PNG size."""
    found = [(SVG_ICON, "scalable/apps/gpuwatch.svg")]
    for png in sorted((icons / "hicolor").glob("*/apps/gpuwatch.png")):
        found.append((png, png.relative_to(icons / "hicolor").as_posix()))
    return found


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_tarball(bundle: Path, icons: Path, version: str, out_dir: Path, level: int = 6) -> Path:
    """The bundle in ``gpuwatch-<version>/`` with the desktop entry, icons and a per-user install.sh."""
    target = out_dir / tarball_name(version)
    top = f"gpuwatch-{version}"
    with tarfile.open(target, "w:gz", compresslevel=level) as tar:
        tar.add(bundle, arcname=top, filter=_as_root)
        tar.add(DESKTOP_FILE, arcname=f"{top}/share/applications/gpuwatch.desktop", filter=_as_root)
        for source, relative in _icon_files(icons):
            tar.add(source, arcname=f"{top}/share/icons/hicolor/{relative}", filter=_as_root)
        tar.add(INSTALL_SCRIPT, arcname=f"{top}/install.sh", filter=_as_root)
    return target


def _glibc_version() -> str:
    name, _, number = os.confstr("CS_GNU_LIBC_VERSION").partition(" ") if hasattr(os, "confstr") else ("", "", "")
    return number if name == "glibc" and number else "2.28"


def _control(version: str, installed_kib: int) -> str:
    depends = ", ".join([f"libc6 (>= {_glibc_version()})", *sorted(set(SYSTEM_LIBRARIES.values()))])
    return (
        "Package: gpuwatch\n"
        f"Version: {version}\n"
        "Section: utils\n"
        "Priority: optional\n"
        f"Architecture: {DEB_ARCH.get(machine(), machine())}\n"
        "Maintainer: GPU Watchdog maintainers <gpuwatch@users.noreply.github.com>\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {depends}\n"
        f"Recommends: {RECOMMENDS}\n"
        "Description: desktop monitor for the GPU clusters you rent or own\n"
        " GPU Watchdog shows live health of every GPU on every node (RunPod pods, Slurm\n"
        " clusters, any dcgm-exporter), keeps history in SQLite and charts it, evaluates\n"
        " alert rules, and answers questions through an AI diagnostic assistant.\n"
        " Try it without a cluster: gpuwatch --demo\n"
    )


def _stage_deb(bundle: Path, icons: Path, stage: Path) -> None:
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(bundle, stage / "opt" / "gpuwatch", symlinks=True)
    launcher = stage / "usr" / "bin" / "gpuwatch"
    launcher.parent.mkdir(parents=True)
    launcher.symlink_to("../../opt/gpuwatch/gpuwatch")  # relative: also works in an unpacked (dpkg-deb -x) tree
    applications = stage / "usr" / "share" / "applications"
    applications.mkdir(parents=True)
    shutil.copy2(DESKTOP_FILE, applications / "gpuwatch.desktop")
    for source, relative in _icon_files(icons):
        target = stage / "usr" / "share" / "icons" / "hicolor" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for path in [stage, *stage.rglob("*")]:  # dpkg wants 0755 dirs and no group/world-writable files
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)


def build_deb(bundle: Path, icons: Path, version: str, out_dir: Path, work: Path, fast: bool = False) -> Path:
    """``dpkg-deb --build`` of a staged tree (xz; ``fast``: gzip -1, ~40x quicker, ~45 % bigger).

    Raises RuntimeError with dpkg-deb's message when it fails.
    """
    if shutil.which("dpkg-deb") is None:
        raise RuntimeError("dpkg-deb is not installed (apt-get install dpkg); or build without the .deb: --formats tar")
    stage = work / "deb" / deb_name(version).removesuffix(".deb")
    _stage_deb(bundle, icons, stage)
    installed_kib = sum(p.lstat().st_size for p in stage.rglob("*")) // 1024 + 1
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN" / "control").write_text(_control(version, installed_kib))
    target = out_dir / deb_name(version)
    compression = ["-Zgzip", "-z1"] if fast else ["-Zxz"]
    result = subprocess.run(["dpkg-deb", "--root-owner-group", *compression, "--build", str(stage), str(target)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dpkg-deb failed: {result.stderr.strip()}")
    shutil.rmtree(stage)
    return target
