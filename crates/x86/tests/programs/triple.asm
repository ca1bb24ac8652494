; Triple fault in real mode: an IDTR limit of 0 makes every interrupt
; delivery raise #GP, whose delivery raises #DF, whose delivery shuts down.
bits 16
org 0x7c00
start:
    xor ax, ax
    mov ds, ax
    lidt [idt0]
    int 0x21
    hlt
idt0:
    dw 0
    dd 0
