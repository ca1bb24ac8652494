#!/usr/bin/env bash
# Fetches what tests/interop_kernel.rs and benches/kernel_decompress.rs compare
# against: Debian bookworm's current cloud kernel (downloaded with
# `apt-get download`, unpacked with `dpkg -x` into target/interop/root/, never
# installed, never committed) and the C tools (readelf, lz4, xz, zstd, gzip).
# Idempotent: a second run only checks that everything is in place.
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
interop="$root_dir/target/interop"
mkdir -p "$interop/root" "$interop/debs"

need_tools=()
for pair in readelf:binutils lz4:lz4 xz:xz-utils zstd:zstd gzip:gzip bzip2:bzip2 lzop:lzop; do
    tool="${pair%%:*}"
    pkg="${pair##*:}"
    command -v "$tool" >/dev/null 2>&1 || need_tools+=("$pkg")
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

updated=0
apt_update() {
    if [ "$updated" -eq 0 ]; then
        "${sudo_cmd[@]}" apt-get update -qq
        updated=1
    fi
}

if [ "${#need_tools[@]}" -gt 0 ]; then
    apt_update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_tools[@]}"
fi

if ! compgen -G "$interop/root/boot/vmlinuz-*-cloud-amd64" >/dev/null; then
    apt_update
    # linux-image-cloud-amd64 is the meta package; its Depends names the
    # versioned image package (e.g. linux-image-6.1.0-NN-cloud-amd64).
    pkg="$(apt-cache depends linux-image-cloud-amd64 \
        | awk '/Depends: linux-image-[0-9].*-cloud-amd64/ { print $2; exit }')"
    if [ -z "$pkg" ]; then
        echo "interop-kernel: cannot resolve linux-image-cloud-amd64" >&2
        exit 1
    fi
    (cd "$interop/debs" && apt-get download "$pkg")
    deb="$(ls -t "$interop/debs/${pkg}"_*.deb | head -n1)"
    dpkg -x "$deb" "$interop/root"
fi

ls "$interop"/root/boot/vmlinuz-*-cloud-amd64
