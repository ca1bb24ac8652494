#!/usr/bin/env bash
# Seeds fuzz/corpus/userdata with small, deterministic user-data of every
# kind cloud-init tells apart (crates/ami/src/userdata), plus the bombs the
# analysis must stop at. Run from the repository root: bash fuzz/seed-userdata.sh
set -euo pipefail
cd "$(dirname "$0")/.."
c=fuzz/corpus/userdata
mkdir -p "$c"
printf '#!/bin/bash\necho hello > /tmp/hello\n' > "$c/shell.txt"
printf '#cloud-config\nbootcmd:\n  - echo boot\nruncmd:\n  - [sh, -c, "echo hi"]\npackages: [nginx]\nwrite_files:\n  - path: /etc/x\n    permissions: 0644\n    content: |\n      a\n' > "$c/cloud-config.txt"
printf '#cloud-config\nruncmd:\n  - a\n - b\n' > "$c/cloud-config-bad-yaml.txt"
printf '#cloud-boothook\n#!/bin/sh\necho early\n' > "$c/boothook.txt"
printf '#include\nhttp://example.com/a\n#include-once https://example.com/b\n' > "$c/include.txt"
printf "#cloud-config-archive\n- '#!/bin/sh\n\n  echo a'\n- {type: text/cloud-boothook, content: 'x', filename: bh}\n- 'runcmd: [ls]'\n" > "$c/archive.txt"
printf '## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }}\n' > "$c/jinja.txt"
printf '#part-handler\ndef list_types():\n    return []\n' > "$c/part-handler.txt"
printf '\xff\xfe junk \x00\x01' > "$c/junk.bin"
printf '#!/bin/sh\necho gz\n' | gzip -n -9 > "$c/shell.gz"
# MIME: a shell script, base64 cloud-config, a gzip part, an unknown type.
gzpart=$(printf '#!/bin/sh\necho part\n' | gzip -n -9 | base64 -w0)
{
  printf 'Content-Type: multipart/mixed; boundary="==B=="\nMIME-Version: 1.0\n\n'
  printf -- '--==B==\nContent-Type: text/x-shellscript; charset="us-ascii"\n\n#!/bin/sh\necho one\n\n'
  printf -- '--==B==\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="cc.txt"\n\n%s\n' \
    "$(printf '#cloud-config\nruncmd: [ls]\n' | base64 -w0)"
  printf -- '--==B==\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n%s\n' "$gzpart"
  printf -- '--==B==\nContent-Type: text/x-shellscript-per-boot\nContent-Transfer-Encoding: quoted-printable\n\n#!/bin/sh=0Aecho qp=\n\n'
  printf -- '--==B==\nContent-Type: application/octet-stream\n\nxyz\n--==B==--\n'
} > "$c/mime.txt"
printf 'MIME-Version: 1.0\nContent-Type: text/plain\n\n#!/bin/sh\n\xff\n' > "$c/mime-not-utf8.txt"
# Nested multiparts, deeper than the analysis reads.
for i in $(seq 0 99); do printf 'Content-Type: multipart/mixed; boundary=b%s\nMIME-Version: 1.0\n\n--b%s\n' "$i" "$i"; done > "$c/mime-deep.txt"
printf '\n#!/bin/sh\n' >> "$c/mime-deep.txt"
# YAML alias bomb (billion laughs) in a #cloud-config.
{
  printf '#cloud-config\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n'
  for i in $(seq 1 9); do p=$((i - 1)); printf 'a%s: &a%s [*a%s, *a%s, *a%s, *a%s, *a%s, *a%s, *a%s, *a%s, *a%s, *a%s]\n' $i $i $p $p $p $p $p $p $p $p $p $p; done
} > "$c/yaml-alias-bomb.txt"
# A gzip bomb: 32 MiB of zeros.
head -c 33554432 /dev/zero | gzip -n -9 > "$c/gzip-bomb.gz"
ls -l "$c"
