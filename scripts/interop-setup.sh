#!/usr/bin/env bash
# Installs the real tools boot-sim's interop tests compare against, and
# unpacks third-party boot sectors for the tests to read. Debian 12
# (bookworm), as root (or with sudo); no network besides apt. Idempotent:
# a second run only re-checks and re-extracts.
#
# Installed (apt-get install):
#   fdisk      sfdisk           partition tables (--json, --dump)
#   e2fsprogs  debugfs, mke2fs  ext2/3/4 (also used by gen-fixtures)
#   util-linux blkid            filesystem type, label, UUID
#   xen-utils-4.17  /usr/lib/xen-4.17/bin/pygrub, the reference for PV menus
#   python3    runs pygrub (and tests/interop/pygrub_menu.py)
#   libxen-dev /usr/include/xen/xen.h: struct start_info, checked with gcc
#   gcc        compiles that check
#   btrfs-progs mkfs.btrfs, btrfs, btrfs-map-logical (tests/interop_btrfs.rs);
#              --compress and --subvol need >= 6.13: bookworm has 6.2, so it
#              comes from bookworm-backports (6.14)
#   lvm2       pvcreate, vgcreate, lvcreate, lvs/vgs/pvs, pvck (tests/interop_lvm.rs;
#              with activation off, so no device-mapper is needed)
#   mount      losetup (a loop device per partition for pvcreate)
#   gdisk      sgdisk (GPT with a BIOS boot partition)
#   dosfstools mkfs.vfat (EFI System Partitions)
#   mtools     mcopy (files into a FAT image without mounting)
#   grub2-common  grub-install (GRUB 2's installer; tests/interop_layouts.rs runs it
#              with --directory=target/interop/root/usr/lib/grub/i386-pc on a loop
#              device over a scratch image, never on a disk; grub2-common does not
#              conflict with the extracted grub-legacy, which is not installed)
# Downloaded and extracted, NOT installed (grub-legacy and grub-pc conflict,
# and nothing here should touch the machine's own boot loader):
#   grub-legacy      target/interop/root/usr/lib/grub/x86_64-pc/stage1
#                    (Debian ships GRUB 0.97's files under x86_64-pc on amd64,
#                    not i386-pc), .../x86_64-pc/stage2, e2fs_stage1_5, ...
#   grub-pc-bin      target/interop/root/usr/lib/grub/i386-pc/boot.img,
#                    .../i386-pc/diskboot.img, core modules
#   syslinux-common  target/interop/root/usr/lib/syslinux/mbr/mbr.bin,
#                    .../mbr/gptmbr.bin, .../mbr/altmbr.bin,
#                    .../modules/bios/ldlinux.c32, and menu.c32 with the
#                    libraries it loads (libutil.c32, libcom32.c32) for
#                    tests/interop_extlinux.rs's `UI menu.c32` disk
#   extlinux         target/interop/root/usr/bin/extlinux (the installer, with
#                    ldlinux.bss and ldlinux.sys inside; tests/interop_extlinux.rs
#                    runs it on a loop-mounted scratch image, never on a disk)
# These files are third-party binaries: they stay under target/ and are
# never committed.
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
interop="$root_dir/target/interop"
debs="$interop/debs"
extract="$interop/root"

install_pkgs=(fdisk e2fsprogs util-linux xen-utils-4.17 python3 libxen-dev gcc xfsprogs btrfs-progs lvm2 mount gdisk dosfstools mtools grub2-common time)
# package:tool that proves the package is installed
tool_of=(fdisk:sfdisk e2fsprogs:debugfs e2fsprogs:mke2fs util-linux:blkid xen-utils-4.17:/usr/lib/xen-4.17/bin/pygrub python3:python3 libxen-dev:/usr/include/xen/xen.h gcc:gcc xfsprogs:mkfs.xfs xfsprogs:xfs_db btrfs-progs:mkfs.btrfs lvm2:pvcreate lvm2:pvck mount:losetup gdisk:sgdisk dosfstools:mkfs.vfat mtools:mcopy grub2-common:grub-install time:/usr/bin/time)
download_pkgs=(grub-legacy grub-pc-bin syslinux-common extlinux)
# files the tests use, relative to $extract
expected_files=(
  usr/lib/grub/x86_64-pc/stage1
  usr/lib/grub/i386-pc/boot.img
  usr/lib/grub/i386-pc/diskboot.img
  usr/lib/syslinux/mbr/mbr.bin
  usr/lib/syslinux/mbr/gptmbr.bin
  usr/lib/syslinux/modules/bios/ldlinux.c32
  usr/lib/syslinux/modules/bios/menu.c32
  usr/lib/syslinux/modules/bios/libutil.c32
  usr/lib/syslinux/modules/bios/libcom32.c32
  usr/bin/extlinux
)

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "interop-setup: needs root (or sudo) for apt-get" >&2
  exit 1
fi

# A tool on PATH (or in sbin), or an absolute path to a file (a header).
have_tool() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

missing_install=()
for pair in "${tool_of[@]}"; do
  pkg="${pair%%:*}" tool="${pair##*:}"
  if ! have_tool "$tool"; then
    case " ${missing_install[*]:-} " in *" $pkg "*) ;; *) missing_install+=("$pkg") ;; esac
  fi
done

mkdir -p "$debs" "$extract"
missing_download=()
for pkg in "${download_pkgs[@]}"; do
  if ! compgen -G "$debs/${pkg}_*.deb" >/dev/null; then
    missing_download+=("$pkg")
  fi
done

updated=no
apt_update_once() {
  if [ "$updated" = no ]; then
    echo "interop-setup: apt-get update"
    "${sudo[@]}" apt-get update -q >/dev/null
    updated=yes
  fi
}

if [ "${#missing_install[@]}" -gt 0 ]; then
  apt_update_once
  echo "interop-setup: installing ${missing_install[*]}"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing_install[@]}" >/dev/null
else
  echo "interop-setup: ${install_pkgs[*]} already installed"
fi

# mkfs.btrfs --compress / --subvol (btrfs-progs 6.13+): bookworm-backports.
mkfs_btrfs="$(command -v mkfs.btrfs || echo /usr/sbin/mkfs.btrfs)"
if [ -x "$mkfs_btrfs" ] && ! "$mkfs_btrfs" --help 2>&1 | grep -q -- '--compress'; then
  apt_update_once
  echo "interop-setup: btrfs-progs from bookworm-backports (mkfs.btrfs --compress)"
  # A fresh machine may have no backports suite in its sources yet (it was
  # added only later, for QEMU, and this install failed: "invalid for
  # APT::Default-Release"); add it first. Retried after a fresh `apt-get
  # update` for a source that appeared after the first update.
  # shellcheck source=scripts/lib-backports.sh
  . "$(dirname "$0")/lib-backports.sh"
  ensure_backports || true
  backports_btrfs() {
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
      -t bookworm-backports btrfs-progs >/dev/null
  }
  backports_btrfs || { "${sudo[@]}" apt-get update -q >/dev/null && backports_btrfs; } ||
    echo "interop-setup: no btrfs-progs >= 6.13 (add bookworm-backports to the apt sources)" >&2
fi

if [ "${#missing_download[@]}" -gt 0 ]; then
  apt_update_once
  echo "interop-setup: downloading ${missing_download[*]} into ${debs#"$root_dir"/}"
  # The sandbox user _apt cannot write into target/; download as ourselves.
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "${missing_download[@]}" >/dev/null)
else
  echo "interop-setup: ${download_pkgs[*]} already downloaded"
fi

# Only our packages: other scripts may keep their own .debs in the same dir.
for pkg in "${download_pkgs[@]}"; do
  for deb in "$debs/${pkg}"_*.deb; do
    dpkg -x "$deb" "$extract"
    echo "interop-setup: extracted $(basename "$deb")"
  done
done

status=0
for f in "${expected_files[@]}"; do
  if [ -f "$extract/$f" ]; then
    echo "interop-setup: ok ${extract#"$root_dir"/}/$f"
  else
    echo "interop-setup: MISSING ${extract#"$root_dir"/}/$f" >&2
    status=1
  fi
done
for tool in sfdisk debugfs mke2fs blkid /usr/lib/xen-4.17/bin/pygrub python3 mkfs.btrfs btrfs-map-logical; do
  have_tool "$tool" && echo "interop-setup: ok $tool" || { echo "interop-setup: MISSING $tool" >&2; status=1; }
done
# Kernel interop: a Debian cloud kernel (never installed, never committed),
# readelf and the C decompressors.
bash "$(dirname "$0")/interop-kernel.sh" || status=1
bash "$(dirname "$0")/interop-hvm.sh" || status=1
# Real loader installers (GRUB 0.97 shell, GRUB 2.06/2.12 grub-install).
bash "$(dirname "$0")/interop-loaders.sh" || status=1
# Debian's cloud-init (unpacked) and its Python dependencies.
bash "$(dirname "$0")/interop-cloud-init.sh" || status=1
exit "$status"
