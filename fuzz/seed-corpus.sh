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
# btrfs_walk: small filesystems made by mkfs.btrfs (4 KiB nodes, so the
# root tree has an internal node; subvolume @ as the default, the way
# Fedora lays it out; one file per compression), stored as the fuzz
# target's patch records (u64 offset, u32 length, bytes) of their
# non-zero byte runs, the superblock mirror at 64 MiB and the trees the
# reader does not use left out.
bw=fuzz/corpus/btrfs_walk
mkdir -p "$bw"
if command -v mkfs.btrfs >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.btrfs ] || [ -x /sbin/mkfs.btrfs ]; then
  PATH="$PATH:/usr/sbin:/sbin"
  for comp in no lzo zstd zlib; do
    src="$tmp/btrfs-$comp/@"
    mkdir -p "$src/boot/grub" "$src/big"
    printf 'set default=0\nmenuentry "L" {\n linux /@/boot/vmlinuz root=LABEL=r rootflags=subvol=@\n}\n' > "$src/boot/grub/grub.cfg"
    ln -s grub.cfg "$src/boot/grub/menu.lst"
    python3 -c 'import sys; sys.stdout.write("kernel text\n" * 500)' > "$src/boot/vmlinuz"
    for i in 1 2 3 4 5 6 7 8; do printf '%s\n' "$i" > "$src/big/f$i"; done
    find "$tmp/btrfs-$comp" -exec touch -h -d @1700000000 {} +
    truncate -s 128M "$tmp/btrfs-$comp.img"
    args=(-q -f -n 4096 -s 4096 -m single -U 11111111-2222-3333-4444-555555555555 --rootdir "$tmp/btrfs-$comp" -u default:@)
    [ "$comp" = no ] || args+=(--compress "$comp")
    mkfs.btrfs "${args[@]}" "$tmp/btrfs-$comp.img"
    python3 - "$tmp/btrfs-$comp.img" "$bw/mkfs-$comp.bin" <<'PY'
import re, struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
# Tree blocks of trees boot-sim never reads (extent 2, dev 4, csum 7,
# uuid 9, free space 10, block group 11, data reloc -9) are left out:
# header fsid at 0x20, owner at 0x58.
fsid = d[0x10020:0x10030]
skip = {2, 4, 7, 9, 10, 11, (1 << 64) - 9}
for at in range(0x100000, min(len(d), 64 << 20), 4096):
    if d[at + 0x20:at + 0x30] == fsid and struct.unpack_from('<Q', d, at + 0x58)[0] in skip:
        d[at:at + 4096] = bytes(4096)
d = bytes(d)
runs = []
for m in re.finditer(rb'[^\x00]+', d[:64 << 20]):
    s, e = m.start(), m.end()
    if runs and s - runs[-1][1] <= 16:
        runs[-1][1] = e
    else:
        runs.append([s, e])
open(sys.argv[2], 'wb').write(b''.join(struct.pack('<QI', s, e - s) + d[s:e] for s, e in runs))
PY
  done
else
  echo "seed-corpus: mkfs.btrfs missing, btrfs_walk seeds not regenerated" >&2
fi
ls -l "$bw"
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

# sector_owners: the small filesystems and a partitioned disk from above.
so=fuzz/corpus/sector_owners
mkdir -p "$so"
for f in "$fw/ext2-small.img" "$fw/ext4-small.img" "$fw/fat12-esp.img" "$pt/gpt-1m.img"; do
  if [ -e "$f" ]; then cp "$f" "$so/"; fi
done
