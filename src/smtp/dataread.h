/* SPDX-License-Identifier: ISC */
/*
 * dataread.h - the DATA phase reader (RFC 5321 §4.1.1.4, §4.5.2).
 *
 * data_reader_feed() consumes wire bytes, writes the unstuffed message (CRLF
 * line ends) to an evbuffer, and stops exactly after CRLF "." CRLF. Nothing
 * else ends data: a bare LF or CR never does, so text after "\n.\n" can never
 * be read as commands (SMTP smuggling). Bare CR/LF, NUL, over-long lines and
 * over-size messages are recorded as flags for the final reply; output stops
 * at the size limit while reading continues to the real end.
 * SECURITY: untrusted network bytes; state is a few integers, output bounded
 * by max_size.
 */
#ifndef MOAT_DATAREAD_H
#define MOAT_DATAREAD_H

#include <stddef.h>

struct evbuffer;

#define DR_BARE_LF   0x01
#define DR_BARE_CR   0x02
#define DR_NUL       0x04
#define DR_LONG_LINE 0x08
#define DR_TOO_BIG   0x10
#define DR_FAKE_END  0x20 /* a "." line with a bare line end: smuggling's shape */

struct data_reader {
	int state;
	int bol_real; /* the current line began after a real CRLF */
	unsigned flags;
	size_t line_len; /* wire octets of the current line so far */
	size_t size;     /* octets written to the output */
	size_t max_size;
	size_t max_line;
	int normalize;    /* turn bare CR/LF into CRLF instead of rejecting */
	char fake_end[6]; /* DR_FAKE_END: the first such sequence, as sent */
	unsigned char fake_len;
};

void data_reader_init(struct data_reader *dr, size_t max_size, size_t max_line,
                      int normalize);

/*
 * data_reader_feed - consume in[0..len); returns bytes consumed. *done is set
 * to 1 when the terminating CRLF.CRLF was consumed; bytes after it are left.
 */
size_t data_reader_feed(struct data_reader *dr, const char *in, size_t len,
                        struct evbuffer *out, int *done);

/* data_reader_rejects - flags that refuse the message under this policy */
unsigned data_reader_rejects(const struct data_reader *dr);

#endif
