#!/usr/bin/env bash
# Seeds the disk-image fuzz corpora with small, deterministic inputs built
# from our own files (mke2fs -d, sfdisk) and from the committed fixtures.
# Run from the repository root: bash fuzz/seed-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export E2FSPROGS_FAKE_TIME=1700000000 SOURCE_DATE_EPOCH=1700000000
pt=fuzz/corpus/partition_table
fw=fuzz/corpus/fs_walk
mkdir -p "$pt" "$fw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A tiny ext2 with a menu.lst -> ./grub.conf symlink, a loop and a deep path.
mkdir -p "$tmp/root/boot/grub" "$tmp/root/a/b/c"
printf 'default 0\ntimeout 1\ntitle t\nroot (hd0)\nkernel /boot/vmlinuz ro\n' > "$tmp/root/boot/grub/grub.conf"
ln -s ./grub.conf "$tmp/root/boot/grub/menu.lst"
ln -s loop2 "$tmp/root/loop1"
ln -s loop1 "$tmp/root/loop2"
ln -s /boot/grub "$tmp/root/a/b/c/up"
printf 'kernel' > "$tmp/root/boot/vmlinuz"
find "$tmp/root" -exec touch -h -d @1700000000 {} +
for kind in ext2 ext4; do
  truncate -s 96K "$tmp/$kind.img"
  /usr/sbin/mke2fs -q -F -t "$kind" -b 1024 -N 32 -U 11111111-2222-3333-4444-555555555555 \
    -E hash_seed=11111111-2222-3333-4444-555555555555,root_owner=0:0 -O ^has_journal \
    -d "$tmp/root" "$tmp/$kind.img"
  cp "$tmp/$kind.img" "$fw/$kind-small.img"
done

# Partition tables: MBR with logicals, GPT, each cut to the first 64 KiB and
# also whole (small disks).
truncate -s 1M "$tmp/mbr.img"
printf 'label: dos\nlabel-id: 0x0badcafe\nstart=64, size=256, type=83, bootable\nstart=400, type=5\nstart=448, size=64, type=83\nstart=600, size=64, type=82\n' \
  | /usr/sbin/sfdisk -q "$tmp/mbr.img"
cp "$tmp/mbr.img" "$pt/mbr-logical-1m.img"
truncate -s 1M "$tmp/gpt.img"
printf 'label: gpt\nlabel-id: 01234567-89AB-CDEF-0123-456789ABCDEF\nfirst-lba: 34\nstart=40, size=100, type=21686148-6449-6E6F-744E-656564454649, uuid=00000000-0000-0000-0000-000000000001\nstart=200, size=600, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=00000000-0000-0000-0000-000000000002, name=root\n' \
  | /usr/sbin/sfdisk -q "$tmp/gpt.img"
cp "$tmp/gpt.img" "$pt/gpt-1m.img"
# The ext2 seed placed inside the MBR image's first partition.
dd if="$fw/ext2-small.img" of="$pt/mbr-logical-1m.img" bs=512 seek=64 conv=notrunc status=none
for f in fixtures/images/*.img; do
  [ -f "$f" ] || continue
  head -c 65536 "$f" > "$pt/head-$(basename "$f")"
done
ls -l "$pt" "$fw"

# A tiny FAT12 ESP (mkfs.vfat, mtools) with a grub.cfg stub and a long name,
# for the FAT reader behind fs_walk.
if command -v mkfs.vfat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.vfat ]; then
  rm -f "$tmp/esp.img"
  /usr/sbin/mkfs.vfat -C -F 12 -i 5eed0001 -n ESP "$tmp/esp.img" 64 >/dev/null
  printf 'search.fs_uuid 11111111-2222-3333-4444-555555555555 root\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' > "$tmp/stub.cfg"
  MTOOLS_SKIP_CHECK=1 mmd -i "$tmp/esp.img" ::/EFI ::/EFI/debian
  MTOOLS_SKIP_CHECK=1 mcopy -m -i "$tmp/esp.img" "$tmp/stub.cfg" "::/EFI/debian/grub.cfg"
  MTOOLS_SKIP_CHECK=1 mcopy -m -i "$tmp/esp.img" "$tmp/stub.cfg" "::/EFI/debian/A long file name.cfg"
  cp "$tmp/esp.img" "$fw/fat12-esp.img"
fi
