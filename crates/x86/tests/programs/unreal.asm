; Unreal (big real) mode: load a 4 GiB-limit data descriptor into DS and ES
; in protected mode, return to real mode WITHOUT reloading them with 16-bit
; descriptors, then use 32-bit addresses above 1 MiB from real mode. A
; real-mode `mov ds,ax` afterwards changes only the base, so the big limit
; survives (the descriptor-cache behaviour SDM Vol. 3A §21.1.1 describes).
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    lgdt [gdtdesc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp short .flush     ; stays in the 16-bit code cache, as classic unreal code does
.flush:
    mov bx, 0x08
    mov ds, bx
    mov es, bx
    and al, 0xfe
    mov cr0, eax
    xor ax, ax
    mov ds, ax           ; base 0 again, limit stays 4 GiB
    mov es, ax
    mov esi, 0x300000
    mov dword [esi], 0x12345678
    mov eax, [esi]
    mov edi, 0x300100
    mov ecx, 4
    a32 rep movsb        ; 32-bit address-size string copy above 1 MiB
    mov ebx, [dword 0x300100]
    hlt
align 8
gdt:
    dq 0
    ; 0x08: data, base 0, limit 4G (G=1), 0x92
    dw 0xffff, 0x0000
    db 0x00, 0x92, 0xcf, 0x00
gdtdesc:
    dw 0x0f
    dd gdt
