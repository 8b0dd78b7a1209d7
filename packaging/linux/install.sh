#!/bin/sh
# Installs this unpacked GPU Watchdog for the current user: a launcher in ~/.local/bin, the menu entry and icons.
# Usage: ./install.sh            (run it from the unpacked folder; ./install.sh --uninstall removes them again)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin="${HOME}/.local/bin"
data="${XDG_DATA_HOME:-${HOME}/.local/share}"
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "${bin}/gpuwatch" "${data}/applications/gpuwatch.desktop"
    find "${data}/icons/hicolor" -name 'gpuwatch.*' -path '*/apps/*' -delete 2>/dev/null || true
    echo "removed the gpuwatch launcher, menu entry and icons (this folder is left as it is)"
    exit 0
fi
mkdir -p "${bin}" "${data}/applications"
ln -sf "${here}/gpuwatch" "${bin}/gpuwatch"
cp -R "${here}/share/icons" "${data}/"
sed "s|^Exec=gpuwatch|Exec=${here}/gpuwatch|; s|^TryExec=gpuwatch|TryExec=${here}/gpuwatch|" \
    "${here}/share/applications/gpuwatch.desktop" > "${data}/applications/gpuwatch.desktop"
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q "${data}/applications" || :; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q -t "${data}/icons/hicolor" || :; fi
echo "installed: ${bin}/gpuwatch and the GPU Watchdog menu entry"
case ":${PATH}:" in *":${bin}:"*) ;; *) echo "note: ${bin} is not on your PATH; add it to run gpuwatch from a terminal" ;; esac
