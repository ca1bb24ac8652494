#!/usr/bin/env bash
# Real boot-loader installers for tests/interop_real_loaders.rs: every
# loader installed by its own tool, as a user does. Called by
# scripts/interop-setup.sh; Debian 12 (bookworm), as root (or with sudo).
# Idempotent. Never changes the machine's apt sources or its boot loader.
#
# Installed (apt-get install):
#   libc6-i386   /lib/ld-linux.so.2 and the i386 libc: GRUB 0.97's `grub`
#                shell (an i386 binary in Debian's amd64 grub-legacy package,
#                extracted under target/interop/root by interop-setup.sh)
#                then runs as target/interop/root/usr/sbin/grub. grub-legacy
#                itself is not installed (it conflicts with grub-pc/grub-common
#                and its postinst offers to touch the machine's boot).
#   xfsprogs     mkfs.xfs (an XFS root)
#   btrfs-progs  mkfs.btrfs (a btrfs root)
# Downloaded and extracted with dpkg -x, NOT installed:
#   GRUB 2.06 (bookworm): grub2-common into target/interop/grub2-bookworm
#     (its usr/sbin/grub-install; a separate tree because grub2-common and
#     grub-legacy both ship usr/sbin/grub-install and update-grub), used with
#     --directory=target/interop/root/usr/lib/grub/i386-pc (grub-pc-bin,
#     extracted by interop-setup.sh).
#   GRUB 2.12 (trixie): grub-pc-bin, grub-common, grub2-common and the
#     libraries their tools link (readelf -d NEEDED of grub-install,
#     grub-mkimage, grub-probe and of those libraries: libc6, liblzma5,
#     libdevmapper1.02.1, libefivar1t64, libefiboot1t64, libselinux1,
#     libudev1, libpcre2-8-0, libcap2) into target/interop/trixie. They are
#     run through trixie's own loader:
#       target/interop/trixie/usr/lib64/ld-linux-x86-64.so.2 \
#         --library-path target/interop/trixie/usr/lib/x86_64-linux-gnu \
#         target/interop/trixie/usr/sbin/grub-install ...
#     The packages come through a private sources list and state directory
#     (target/interop/trixie-apt: -o Dir::Etc::SourceList=...,
#     Dir::Etc::SourceParts=/dev/null, Dir::State::Lists=..., Dir::Cache=...),
#     from the mirror the machine's bookworm sources already use, signed
#     by Debian's archive keyring (bookworm's debian-archive-keyring has
#     trixie's key: the InRelease signature is checked as usual).
# All of these are third-party binaries: they stay under target/ and are
# never committed.
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
interop="$root_dir/target/interop"
debs="$interop/debs"
bookworm_grub2="$interop/grub2-bookworm"
trixie="$interop/trixie"
trixie_debs="$interop/trixie-debs"
trixie_apt="$interop/trixie-apt"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "interop-loaders: needs root (or sudo) for apt-get" >&2
  exit 1
fi

# package:file that proves the package is installed
tool_of=(libc6-i386:/lib/ld-linux.so.2 xfsprogs:/usr/sbin/mkfs.xfs btrfs-progs:/usr/bin/mkfs.btrfs)
need=()
for pair in "${tool_of[@]}"; do
  pkg="${pair%%:*}" file="${pair##*:}"
  [ -e "$file" ] || [ -e "/sbin/${file##*/}" ] || [ -e "/bin/${file##*/}" ] || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "interop-loaders: installing ${need[*]}"
  "${sudo[@]}" apt-get update -q >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# GRUB 2.06's installer (bookworm's grub2-common), beside the grub-pc-bin
# files interop-setup.sh extracts.
mkdir -p "$debs" "$bookworm_grub2"
if ! compgen -G "$debs/grub2-common_*.deb" >/dev/null; then
  echo "interop-loaders: downloading grub2-common (bookworm)"
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" grub2-common >/dev/null)
fi
for deb in "$debs"/grub2-common_*.deb; do dpkg -x "$deb" "$bookworm_grub2"; done

# GRUB 2.12 from trixie through a private sources list: the machine's own
# sources, lists and package cache are not touched.
trixie_pkgs=(grub-pc-bin grub-common grub2-common libc6 liblzma5 libdevmapper1.02.1 libefivar1t64
  libefiboot1t64 libselinux1 libudev1 libpcre2-8-0 libcap2)
mirror="$(grep -rhsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1)"
[ -n "$mirror" ] || mirror="$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
  grep -v security | awk '{print $2}' | grep -v '^\[' | head -n 1)"
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
mkdir -p "$trixie_apt/lists/partial" "$trixie_apt/cache/archives/partial" "$trixie_debs" "$trixie"
echo "deb [signed-by=$keyring] $mirror trixie main" >"$trixie_apt/sources.list"
apt_trixie=(-o Dir::Etc::SourceList="$trixie_apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$trixie_apt/lists" -o Dir::Cache="$trixie_apt/cache"
  -o APT::Sandbox::User="$(id -un)")
missing=()
for pkg in "${trixie_pkgs[@]}"; do
  compgen -G "$trixie_debs/${pkg}_*.deb" >/dev/null || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "interop-loaders: apt-get update (private list: $mirror trixie)"
  apt-get "${apt_trixie[@]}" update -q >/dev/null
  echo "interop-loaders: downloading ${missing[*]} (trixie)"
  (cd "$trixie_debs" && apt-get "${apt_trixie[@]}" download -q "${missing[@]}" >/dev/null)
fi
for pkg in "${trixie_pkgs[@]}"; do
  for deb in "$trixie_debs/${pkg}"_*.deb; do dpkg -x "$deb" "$trixie"; done
done

status=0
grub_legacy="$interop/root/usr/sbin/grub"
if [ -x "$grub_legacy" ] && out="$(echo quit | "$grub_legacy" --batch --no-floppy --device-map=/dev/null 2>&1)" &&
  [[ "$out" == *"GNU GRUB  version 0.97"* ]]; then
  echo "interop-loaders: ok ${grub_legacy#"$root_dir"/} ($("$grub_legacy" --version))"
else
  echo "interop-loaders: MISSING a runnable ${grub_legacy#"$root_dir"/} (grub-legacy + libc6-i386)" >&2
  status=1
fi
if v="$("$bookworm_grub2/usr/sbin/grub-install" --version 2>/dev/null)"; then
  echo "interop-loaders: ok ${bookworm_grub2#"$root_dir"/}/usr/sbin/grub-install ($v)"
else
  echo "interop-loaders: MISSING a runnable GRUB 2.06 grub-install" >&2
  status=1
fi
ld="$trixie/usr/lib64/ld-linux-x86-64.so.2"
libs="$trixie/usr/lib/x86_64-linux-gnu"
for tool in usr/sbin/grub-install usr/bin/grub-mkimage usr/lib/grub/i386-pc/grub-bios-setup; do
  if v="$("$ld" --library-path "$libs" "$trixie/$tool" --version 2>/dev/null)"; then
    echo "interop-loaders: ok ${trixie#"$root_dir"/}/$tool ($v)"
  else
    echo "interop-loaders: MISSING a runnable trixie $tool" >&2
    status=1
  fi
done
for tool in mkfs.xfs mkfs.btrfs losetup partx mount; do
  if command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ]; then
    echo "interop-loaders: ok $tool"
  else
    echo "interop-loaders: MISSING $tool" >&2
    status=1
  fi
done
exit "$status"
