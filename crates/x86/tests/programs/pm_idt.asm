; 32-bit protected mode with an IDT: a software interrupt through a 32-bit
; interrupt gate, a #DE through the same table, iretd back, then a real
; triple fault by loading an empty IDT and dividing by zero.
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    lgdt [gdtdesc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:pm
bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    lidt [idtdesc]
    xor ebx, ebx
    int 0x30              ; handler adds 1 to ebx
    xor edx, edx
    mov eax, 7
    xor ecx, ecx
    div ecx               ; #DE: handler adds 0x100 to ebx and skips 2 bytes
    mov [0x6000], ebx
    lidt [idt_empty]
    div ecx               ; #DE -> #GP -> #DF -> shutdown
    hlt
int30:
    inc ebx
    iretd
de:
    add ebx, 0x100
    add dword [esp], 2
    iretd
align 8
gdt:
    dq 0
    dw 0xffff, 0x0000
    db 0x00, 0x9a, 0xcf, 0x00
    dw 0xffff, 0x0000
    db 0x00, 0x92, 0xcf, 0x00
gdtdesc:
    dw 0x17
    dd gdt
idt:
    ; vector 0: 32-bit interrupt gate to de
    dw de, 0x08
    db 0, 0x8e
    dw 0
    times 0x2f * 8 db 0
    ; vector 0x30: 32-bit interrupt gate to int30
    dw int30, 0x08
    db 0, 0x8e
    dw 0
idt_end:
idtdesc:
    dw idt_end - idt - 1
    dd idt
idt_empty:
    dw 0
    dd 0
