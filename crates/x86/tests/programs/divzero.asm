; Divide by zero delivered through the real-mode IVT: the handler records
; the faulting CS:IP, skips the 2-byte `div cx` by bumping the saved IP
; and returns with iret.
bits 16
org 0x7c00
start:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    mov word [0*4], de_handler
    mov word [0*4+2], 0
    mov ax, 1234
    xor dx, dx
    xor cx, cx
fault:
    div cx
    mov si, 0x600d
    hlt
de_handler:
    mov bp, sp
    mov di, [bp]          ; faulting IP
    add word [bp], 2      ; skip div cx
    iret
