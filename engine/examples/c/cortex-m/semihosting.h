/* ARM semihosting, served by QEMU: see startup.c. */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

/* Writes a NUL-terminated string to QEMU's stdout. */
void sh_puts(const char *s);
/* Ends the program: QEMU exits with 0 when `ok`, else 1. */
_Noreturn void sh_exit(int ok);

#endif
