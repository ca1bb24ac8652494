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

# XFS V5 and V4 (no ftype) made by mkfs.xfs -p from a small tree, cut to
# the AG 0 blocks that hold it: superblock and AG headers, the inode chunk,
# a short-form root, a 4 KiB block directory (dirblklog 2), a remote
# symlink, files. Directories that mkfs put in AG 1 stay past the cut, so
# their reads fail as a truncated image's do. mkfs.xfs wants >= 300 MB.
xw=fuzz/corpus/xfs_walk
mkdir -p "$xw"
mkdir -p "$tmp/xroot/a" "$tmp/xroot/d" "$tmp/xroot/e"
printf 'title t\nroot (hd0)\nkernel /vmlinuz ro\n' > "$tmp/xroot/grub.conf"
ln -s ./grub.conf "$tmp/xroot/menu.lst"
printf 'kernel' > "$tmp/xroot/vmlinuz"
for i in $(seq 30); do : > "$tmp/xroot/d/entry-$i"; done
for i in 1 2 3; do : > "$tmp/xroot/e/f$i"; done
ln -s "/$(printf 'y%.0s' $(seq 700))" "$tmp/xroot/long"
ln -s loop2 "$tmp/xroot/loop1"
ln -s loop1 "$tmp/xroot/loop2"
{
  echo /dev/null; echo 0 0; echo 'd--755 0 0'
  echo ' a d--755 0 0'; echo ' $'
  echo ' d d--755 0 0'; for i in $(seq 30); do echo "  entry-$i ---644 0 0 $tmp/xroot/d/entry-$i"; done; echo ' $'
  echo ' e d--755 0 0'; for i in 1 2 3; do echo "  f$i ---644 0 0 $tmp/xroot/e/f$i"; done; echo ' $'
  echo " grub.conf ---644 0 0 $tmp/xroot/grub.conf"
  echo " long l--777 0 0 $(readlink "$tmp/xroot/long")"
  echo ' loop1 l--777 0 0 loop2'; echo ' loop2 l--777 0 0 loop1'
  echo ' menu.lst l--777 0 0 ./grub.conf'
  echo " vmlinuz ---644 0 0 $tmp/xroot/vmlinuz"
  echo '$'
} > "$tmp/xfs.proto"
for v in 5 4; do
  opts=(-m uuid=11111111-2222-3333-4444-555555555555)
  [ "$v" = 4 ] && opts=(-m crc=0,uuid=11111111-2222-3333-4444-555555555555 -n ftype=0)
  rm -f "$tmp/xfs$v.img"
  truncate -s 300M "$tmp/xfs$v.img"
  /usr/sbin/mkfs.xfs -q "${opts[@]}" -b size=1024 -i size=512 -d agcount=2 -L seed$v \
    -p "$tmp/xfs.proto" "$tmp/xfs$v.img" 2>/dev/null
  head -c $((72 * 1024)) "$tmp/xfs$v.img" > "$xw/v$v-agcount2-cut72k.img"
done
