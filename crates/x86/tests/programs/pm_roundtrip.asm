; GRUB 0.97 stage2/asm.S real_to_prot / prot_to_real shape: lgdt, CR0.PE,
; far jump to a 32-bit flat code segment, work above 1 MiB, far jump to a
; 16-bit protected-mode code segment, load 64 KiB data segments, clear PE,
; far jump to real mode, zero the segment registers, sti, print "OK".
bits 16
org 0x7c00
PROT_MODE_CSEG equ 0x08
PROT_MODE_DSEG equ 0x10
PSEUDO_RM_CSEG equ 0x18
PSEUDO_RM_DSEG equ 0x20
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    ; real_to_prot
    o32 a32 lgdt [gdtdesc]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword PROT_MODE_CSEG:protcseg
bits 32
protcseg:
    mov ax, PROT_MODE_DSEG
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov dword [0x200000], 0xfeedf00d   ; above 1 MiB, flat
    mov eax, [0x200000]
    mov [0x6000], eax                  ; copy below 1 MiB for the test
    ; prot_to_real
    lgdt [gdtdesc]
    mov ax, PSEUDO_RM_DSEG
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    jmp PSEUDO_RM_CSEG:tmpcseg
bits 16
tmpcseg:
    mov eax, cr0
    and al, 0xfe
    mov cr0, eax
    jmp dword 0:realcseg
realcseg:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    sti
    mov ax, 0x0e4f        ; 'O'
    int 0x10
    mov al, 'K'
    int 0x10
    hlt
align 8
gdt:
    dq 0
    ; 0x08: code, base 0, limit 4G, 0x9A, 0xCF
    dw 0xffff, 0x0000
    db 0x00, 0x9a, 0xcf, 0x00
    ; 0x10: data, base 0, limit 4G, 0x92, 0xCF
    dw 0xffff, 0x0000
    db 0x00, 0x92, 0xcf, 0x00
    ; 0x18: 16-bit code, limit 0xFFFF, 0x9E
    dw 0xffff, 0x0000
    db 0x00, 0x9e, 0x00, 0x00
    ; 0x20: 16-bit data, limit 0xFFFF, 0x92
    dw 0xffff, 0x0000
    db 0x00, 0x92, 0x00, 0x00
gdtdesc:
    dw 0x27
    dd gdt
