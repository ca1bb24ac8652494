#!/usr/bin/env bash
# HVM interop tools: QEMU with SeaBIOS (the reference for boot-sim's
# firmware, int 13h/IDE path and boot-sector execution) and GRUB 2's
# grub-mkimage. Called by scripts/interop-setup.sh; Debian 12 (bookworm),
# as root (or with sudo). Idempotent.
#
# Installed (apt-get install):
#   qemu-system-x86  qemu-system-x86_64 + SeaBIOS (package seabios, bios.bin
#                    and bios-256k.bin). From bookworm-backports, to match
#                    the machine's qemu-utils (10.x from backports); if the
#                    backports suite cannot be reached, plain bookworm's 7.2
#                    is installed and the script says so.
#   grub-common      grub-mkimage (builds GRUB 2 core.img for the tests)
# Used from target/interop/root (extracted by interop-setup.sh, not installed):
#   grub-legacy      usr/lib/grub/x86_64-pc/{stage1,e2fs_stage1_5,stage2}
#                    (its usr/sbin/grub is an i386 binary that needs
#                    /lib/ld-linux.so.2, absent on amd64; tests/interop_hvm.rs
#                    does what `setup (hd0)`/`install` write, byte for byte,
#                    on a fresh sfdisk + mke2fs -d image in a temp dir)
#   grub-pc-bin      usr/lib/grub/i386-pc/{boot.img,*.mod} (grub-mkimage -d;
#                    grub-bios-setup insists on guessing the root device of
#                    its -d directory from the host's disks, so the test
#                    writes boot.img/core.img as its setup() does)
#   syslinux-common  usr/lib/syslinux/mbr/mbr.bin
# Also used: sfdisk, mke2fs, debugfs (interop-setup.sh). QEMU's screen is
# read through its gdbstub (VGA text page at 0xB8000), see the test.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "interop-hvm: needs root (or sudo) for apt-get" >&2
  exit 1
fi

# shellcheck source=scripts/lib-backports.sh
. "$(dirname "$0")/lib-backports.sh"

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v grub-mkimage >/dev/null 2>&1 || need+=(grub-common)

if [ "${#need[@]}" -gt 0 ]; then
  ensure_backports || true
  echo "interop-hvm: apt-get update"
  "${sudo[@]}" apt-get update -q >/dev/null || true
  for pkg in "${need[@]}"; do
    # (grep on a captured string: with pipefail, `apt-cache | grep -q` can
    # fail on SIGPIPE even when the line is there.)
    policy="$(apt-cache policy qemu-system-x86 2>/dev/null || true)"
    if [ "$pkg" = qemu-system-x86 ] && [[ "$policy" == *bookworm-backports* ]]; then
      echo "interop-hvm: installing qemu-system-x86 from bookworm-backports"
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        -t bookworm-backports qemu-system-x86 >/dev/null
    else
      [ "$pkg" = qemu-system-x86 ] && echo "interop-hvm: bookworm-backports not reachable; installing bookworm's qemu-system-x86" >&2
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
    fi
  done
fi

status=0
for tool in qemu-system-x86_64 grub-mkimage; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "interop-hvm: ok $tool ($("$tool" --version 2>/dev/null | head -n1))"
  else
    echo "interop-hvm: MISSING $tool" >&2
    status=1
  fi
done
for f in /usr/share/seabios/bios-256k.bin /usr/share/seabios/bios.bin; do
  if [ -f "$f" ]; then echo "interop-hvm: ok $f"; fi
done
exit "$status"
