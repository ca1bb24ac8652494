; Self-modifying code: run an instruction, patch its immediate, run it
; again (the decoded-instruction cache must notice), then patch the next
; instruction in straight-line code, as syslinux mbr.S patches its CHS read
; path into `mov ah,42h; jmp read_common`.
bits 16
org 0x7c00
start:
    xor ax, ax
    mov ds, ax
    xor cx, cx
again:
patch1:
    mov al, 0x11
    add cl, al
    mov byte [patch1 + 1], 0x22
    cmp cl, 0x11
    je again              ; second pass sees mov al,0x22: cl = 0x33
    mov byte [patch2], 0xb4          ; turn "nop; nop" into "mov ah, 0x42"
    mov byte [patch2 + 1], 0x42
patch2:
    nop
    nop
    hlt
