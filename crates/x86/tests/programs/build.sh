#!/bin/sh
# Regenerates the committed .bin test programs from their .asm sources.
# Needs nasm (Debian package `nasm`); the tests only read the .bin files.
set -eu
cd "$(dirname "$0")"
for f in *.asm; do
    nasm -f bin -o "${f%.asm}.bin" "$f"
done
