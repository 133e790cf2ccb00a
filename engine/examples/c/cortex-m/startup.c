/* Startup for QEMU's MPS2 AN386 (Cortex-M4F) without a vendor SDK: the vector table, a reset
 * handler that sets up .data/.bss and the FPU and calls main, and ARM semihosting (print,
 * exit) so the program reports to the host QEMU runs on. */
#include <stdint.h>
#include <string.h>

#include "semihosting.h"

extern uint32_t _stack_top, _sidata, _sdata, _edata, _sbss, _ebss;
extern int main(void);

void Reset_Handler(void);
void Fault_Handler(void);

/* Semihosting: the debugger (QEMU with -semihosting-config enable=on) serves `bkpt 0xAB`. */
static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s) {
    semihost(0x04 /* SYS_WRITE0 */, s);
}

_Noreturn void sh_exit(int ok) {
    /* SYS_EXIT with ADP_Stopped_ApplicationExit: QEMU exits 0; RunTimeErrorUnknown: 1. */
    semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

/* The staticlib's panic handler (bare-metal builds: panic = "abort") calls abort(). */
_Noreturn void abort(void) {
    sh_puts("abort: the engine panicked\n");
    sh_exit(0);
}

void Reset_Handler(void) {
    memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
    memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
    /* thumbv7em-none-eabihf code may use the FPU: grant CP10 and CP11 full access. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    sh_exit(main() == 0);
}

void Fault_Handler(void) {
    sh_puts("FAIL: fault\n");
    sh_exit(0);
}

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &_stack_top,   Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0,             0,             0,             0,             Fault_Handler,
    Fault_Handler, 0,             Fault_Handler, Fault_Handler,
};
