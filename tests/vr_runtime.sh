#!/bin/sh
# Builds Monado (the open-source OpenXR runtime) with its simulated headset and null compositor, for the VR tests.
# Debian bookworm carries no Monado and trixie's binaries need a newer libc, so trixie's source is fetched through
# a private apt configuration (the machine's own sources stay untouched) and built into a cache outside the
# repository. Does nothing when the cached runtime exists. Prints the runtime manifest's path on success.
# Usage: tests/vr_runtime.sh            (as root it installs the build dependencies with apt)
set -eu

MONADO_VERSION=25.0.0
CACHE="${SO101_MONADO_CACHE:-$HOME/.cache/so101/monado}/$MONADO_VERSION"
MANIFEST="$CACHE/openxr_monado.json"
MIRROR="${SO101_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILD_DEPS="glslang-tools libvulkan-dev mesa-vulkan-drivers libeigen3-dev libgl-dev libx11-dev libxrandr-dev \
libx11-xcb-dev libxcb-randr0-dev libxxf86vm-dev libbsd-dev libcjson-dev libudev-dev ninja-build cmake g++ xz-utils"

if [ -f "$MANIFEST" ] && [ -f "$CACHE/lib/libopenxr_monado.so" ]; then
  echo "$MANIFEST"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  echo "vr_runtime: not a Debian/Ubuntu system; install Monado with your package manager and set XR_RUNTIME_JSON" >&2
  exit 1
fi

missing=""
for p in $BUILD_DEPS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "vr_runtime: missing Debian packages:$missing; install them with: sudo apt-get install -y$missing" >&2
    exit 1
  fi
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/src"
echo "deb-src $MIRROR trixie main" > "$WORK/sources.list"
APT="apt-get -q -o Dir::Etc::SourceList=$WORK/sources.list -o Dir::Etc::SourceParts=/dev/null \
-o Dir::State::Lists=$WORK/lists -o APT::Sandbox::User=root -o Acquire::AllowInsecureRepositories=false"
# trixie's Release file is signed by keys bookworm's keyring already holds.
$APT update >&2
(cd "$WORK/src" && $APT source --download-only monado >&2 || true)
# The .dsc and debian tarball have answered 404 at times; the upstream tarball alone builds.
ORIG="$(ls "$WORK"/src/monado_*.orig.tar.* 2>/dev/null | head -n 1 || true)"
if [ -z "$ORIG" ]; then
  echo "vr_runtime: could not fetch monado's source from $MIRROR (trixie)" >&2
  exit 1
fi
tar -xf "$ORIG" -C "$WORK/src"
SRC="$(find "$WORK/src" -maxdepth 1 -type d -name 'monado*' | head -n 1)"

cmake -S "$SRC" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$CACHE" \
  -DBUILD_TESTING=OFF -DXRT_BUILD_SAMPLES=OFF -DXRT_FEATURE_SERVICE=OFF -DXRT_FEATURE_STEAMVR_PLUGIN=OFF \
  -DXRT_MODULE_MONADO_GUI=OFF -DXRT_MODULE_MONADO_CLI=OFF -DXRT_MODULE_CTL=OFF \
  -DXRT_BUILD_DRIVER_SIMULATED=ON -DXRT_HAVE_SDL2=OFF -DXRT_HAVE_GST=OFF -DXRT_HAVE_OPENCV=OFF -DXRT_HAVE_LIBUSB=OFF \
  -DXRT_HAVE_HIDAPI=OFF -DXRT_HAVE_V4L2=OFF -DXRT_HAVE_SYSTEMD=OFF -DXRT_HAVE_WAYLAND=OFF -DXRT_FEATURE_TRACING=OFF \
  -DXRT_BUILD_DRIVER_ANDROID=OFF -DXRT_BUILD_DRIVER_ARDUINO=OFF -DXRT_BUILD_DRIVER_DAYDREAM=OFF \
  -DXRT_BUILD_DRIVER_DEPTHAI=OFF -DXRT_BUILD_DRIVER_EUROC=OFF -DXRT_BUILD_DRIVER_HANDTRACKING=OFF \
  -DXRT_BUILD_DRIVER_HDK=OFF -DXRT_BUILD_DRIVER_HYDRA=OFF -DXRT_BUILD_DRIVER_ILLIXR=OFF -DXRT_BUILD_DRIVER_NS=OFF \
  -DXRT_BUILD_DRIVER_OHMD=OFF -DXRT_BUILD_DRIVER_OPENGLOVES=OFF -DXRT_BUILD_DRIVER_PSMV=OFF \
  -DXRT_BUILD_DRIVER_PSSENSE=OFF -DXRT_BUILD_DRIVER_PSVR=OFF -DXRT_BUILD_DRIVER_QWERTY=OFF \
  -DXRT_BUILD_DRIVER_REALSENSE=OFF -DXRT_BUILD_DRIVER_REMOTE=OFF -DXRT_BUILD_DRIVER_RIFT_S=OFF \
  -DXRT_BUILD_DRIVER_ROKID=OFF -DXRT_BUILD_DRIVER_SIMULAVR=OFF -DXRT_BUILD_DRIVER_STEAMVR_LIGHTHOUSE=OFF \
  -DXRT_BUILD_DRIVER_SURVIVE=OFF -DXRT_BUILD_DRIVER_TWRAP=OFF -DXRT_BUILD_DRIVER_ULV2=OFF \
  -DXRT_BUILD_DRIVER_ULV5=OFF -DXRT_BUILD_DRIVER_VF=OFF -DXRT_BUILD_DRIVER_VIVE=OFF -DXRT_BUILD_DRIVER_WMR=OFF \
  -DXRT_BUILD_DRIVER_XREAL_AIR=OFF >&2
ninja -C "$WORK/build" >&2

LIB="$(find "$WORK/build" -name libopenxr_monado.so | head -n 1)"
mkdir -p "$CACHE/lib"
cp "$LIB" "$CACHE/lib/libopenxr_monado.so"
cat > "$MANIFEST.tmp" <<EOF
{
    "file_format_version": "1.0.0",
    "runtime": {
        "name": "Monado",
        "library_path": "$CACHE/lib/libopenxr_monado.so"
    }
}
EOF
mv "$MANIFEST.tmp" "$MANIFEST"
echo "$MANIFEST"
