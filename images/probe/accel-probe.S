/*
 * The accelerator probe guest: a multiboot kernel that proves a QEMU guest really runs, and
 * how fast. pvlab boots it under KVM (and under TCG, to compare) before trusting KVM, because
 * a /dev/kvm that opens can still be unable to run a guest (QEMU aborting on an MSR, or a
 * vCPU that never gets past the firmware).
 *
 * It walks the steps a Xen boot needs and prints a marker on COM1 after each:
 *   PVLAB-PROBE-START   firmware handed over to a 32-bit multiboot kernel
 *   PVLAB-PROBE-IRQ     the PIT's timer interrupts arrive (IDT, PIC, HLT wake-up)
 *   PVLAB-PROBE-LONG    long mode entered (PAE paging, EFER.LME, a 64-bit code segment)
 *   PVLAB-PROBE-OK      a fixed CPU-bound loop finished (the timed part)
 * then writes to QEMU's isa-debug-exit port so QEMU exits at once. A fault prints
 * PVLAB-PROBE-FAULT and halts. Built with `as --32` and `ld -m elf_i386`: no C library.
 */
    .set MB_MAGIC, 0x1BADB002
    .set MB_FLAGS, 0
    .set COM1, 0x3f8
    .set EXIT_PORT, 0xf4
    .set TICKS, 20            /* PIT ticks to wait at 1 kHz: 20 ms of guest time */
    .set LOOPS, 200000000     /* timed loop iterations */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    cli
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $stack_top, %esp
    mov $msg_start, %esi
    call puts

    /* interrupts: every vector to a fault handler, vector 32 (IRQ0 after the remap) to tick */
    xor %ecx, %ecx
2:  mov $fault, %eax
    cmp $32, %ecx
    jne 3f
    mov $tick, %eax
3:  cmp $32, %ecx
    jbe 4f
    mov $spurious, %eax
4:  mov %ax, idt(,%ecx,8)
    movw $0x08, idt+2(,%ecx,8)
    movw $0x8e00, idt+4(,%ecx,8)
    shr $16, %eax
    mov %ax, idt+6(,%ecx,8)
    inc %ecx
    cmp $48, %ecx
    jb 2b
    lidt idt_desc

    /* 8259 PICs: vectors 32-47, only IRQ0 unmasked */
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $32, %al
    out %al, $0x21
    mov $40, %al
    out %al, $0xa1
    mov $4, %al
    out %al, $0x21
    mov $2, %al
    out %al, $0xa1
    mov $1, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xfe, %al
    out %al, $0x21
    mov $0xff, %al
    out %al, $0xa1
    /* PIT channel 0, rate generator, 1193182 / 1193 = 1 kHz */
    mov $0x34, %al
    out %al, $0x43
    mov $(1193 & 0xff), %al
    out %al, $0x40
    mov $(1193 >> 8), %al
    out %al, $0x40
    sti
5:  hlt
    cmpl $TICKS, ticks
    jb 5b
    cli
    mov $0xff, %al
    out %al, $0x21
    mov $msg_irq, %esi
    call puts

    /* long mode: identity-map the first 1 GiB with 2 MiB pages */
    mov $pdpt, %eax
    or $3, %eax
    mov %eax, pml4
    mov $pd, %eax
    or $3, %eax
    mov %eax, pdpt
    xor %ecx, %ecx
6:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, pd(,%ecx,8)
    inc %ecx
    cmp $512, %ecx
    jb 6b
    mov $pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax            /* PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx     /* EFER */
    rdmsr
    or $0x100, %eax           /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax      /* PG */
    mov %eax, %cr0
    ljmp $0x18, $long_mode

/* Writes the NUL-terminated string at %esi to COM1. */
puts:
    mov $COM1, %dx
7:  lodsb
    test %al, %al
    jz 8f
    out %al, %dx
    jmp 7b
8:  ret

tick:
    push %eax
    incl ticks
    mov $0x20, %al
    out %al, $0x20
    pop %eax
    iret

spurious:
    push %eax
    mov $0x20, %al
    out %al, $0x20
    out %al, $0xa0
    pop %eax
    iret

fault:
    mov $msg_fault, %esi
    call puts
9:  cli
    hlt
    jmp 9b

    .code64
long_mode:
    mov $msg_long, %esi
    call puts64
    /* the timed part: loads and stores over 4 MiB at 4 MiB (guest memory as a guest uses it;
     * TCG translates each access through its soft TLB, KVM runs it natively) */
    mov $LOOPS, %rcx
    mov $1, %rax
    xor %rdi, %rdi
10: mov 0x400000(%rdi), %rbx
    add %rcx, %rax
    xor %rbx, %rax
    mov %rax, 0x400000(%rdi)
    add $64, %rdi
    and $0x3fffff, %rdi
    dec %rcx
    jnz 10b
    mov $result, %edi         /* keep the result so the loop is not dead code */
    mov %rax, (%rdi)
    mov $msg_ok, %esi
    call puts64
    mov $0, %al               /* QEMU exits with status (0 << 1) | 1 = 1 */
    out %al, $EXIT_PORT
11: hlt
    jmp 11b

puts64:
    mov $COM1, %dx
12: lodsb
    test %al, %al
    jz 13f
    out %al, %dx
    jmp 12b
13: ret

    .data
    .align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff  /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff  /* 0x10: data */
    .quad 0x00af9a000000ffff  /* 0x18: 64-bit code */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
idt_desc:
    .word 48 * 8 - 1
    .long idt
ticks:
    .long 0
result:
    .quad 0
msg_start: .asciz "PVLAB-PROBE-START\n"
msg_irq:   .asciz "PVLAB-PROBE-IRQ\n"
msg_long:  .asciz "PVLAB-PROBE-LONG\n"
msg_ok:    .asciz "PVLAB-PROBE-OK\n"
msg_fault: .asciz "PVLAB-PROBE-FAULT\n"

    .bss
    .align 4096
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4096
idt:  .skip 48 * 8
    .align 16
    .skip 8192
stack_top:
