; Prints "Hello, boot-sim!\r\n" through int 10h AH=0Eh (teletype), the way
; GRUB stage1's `message` loop does (lodsb / int 10h / until NUL), then halts.
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov si, msg
.next:
    lodsb
    test al, al
    jz .done
    mov ah, 0x0e
    mov bx, 0x0001
    int 0x10
    jmp .next
.done:
    hlt
    jmp .done
msg: db "Hello, boot-sim!", 13, 10, 0
