/*
 * Test helpers for the serial suite that need Linux's termios2
 * (<asm/termbits.h>), which cannot share a file with the <termios.h> that
 * check_serial.c uses: read and set a tty's speed in baud, custom rates
 * (BOTHER) included.
 */
#ifndef WIRE_TESTS_SERIAL_TTY_H
#define WIRE_TESTS_SERIAL_TTY_H

/* The output speed of tty `fd` in baud.  Returns 0, or -1 with errno set
 * (ENOSYS where there is no termios2). */
int unit_tty_get_baud(int fd, unsigned *baud);
/* Set both speeds of tty `fd` to `baud` as a custom rate (BOTHER). */
int unit_tty_set_baud(int fd, unsigned baud);

#endif
