#!/bin/sh
# Wraps "GPU Watchdog.app" (built by `make package` on macOS) in a compressed disk image with an Applications link.
# Usage: packaging/macos/make_dmg.sh VERSION [DIST_DIR]   ->  DIST_DIR/GPU-Watchdog-VERSION-macos-ARCH.dmg
# Sign and notarize the .app before this step when distributing it (packaging/README.md).
set -eu
if [ "$#" -lt 1 ]; then
    echo "usage: $0 VERSION [DIST_DIR]" >&2
    exit 2
fi
version=$1
dist=${2:-dist}
app="${dist}/GPU Watchdog.app"
if [ ! -d "${app}" ]; then
    echo "error: ${app} is missing: run \`make package\` on macOS first" >&2
    exit 1
fi
command -v hdiutil >/dev/null 2>&1 || { echo "error: hdiutil not found: this script runs on macOS" >&2; exit 1; }
dmg="${dist}/GPU-Watchdog-${version}-macos-$(uname -m).dmg"
stage=$(mktemp -d)
trap 'rm -rf "${stage}"' EXIT
cp -R "${app}" "${stage}/"
ln -s /Applications "${stage}/Applications"
hdiutil create -volname "GPU Watchdog ${version}" -srcfolder "${stage}" -fs HFS+ -format UDZO -ov "${dmg}"
echo "${dmg}"
