/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.h - the Sendmail/Postfix milter protocol, version 6, as the
 * MTA side speaks it: packets (a 32-bit length in network order, a command
 * octet, data), the commands moat sends, and the replies it reads.
 */
#ifndef MOAT_MILTER_PROTO_H
#define MOAT_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define MILTER_VERSION 6
/* the largest body chunk sent; the largest packet read (a milter may
 * negotiate bigger chunks than libmilter's 64 KiB default: 1 MiB) */
#define MILTER_CHUNK      65535
#define MILTER_PACKET_MAX (1024 * 1024 + 64)

/* commands (MTA to milter) */
#define SMFIC_ABORT   'A'
#define SMFIC_BODY    'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO   'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO    'H'
#define SMFIC_HEADER  'L'
#define SMFIC_MAIL    'M'
#define SMFIC_EOH     'N'
#define SMFIC_OPTNEG  'O'
#define SMFIC_QUIT    'Q'
#define SMFIC_RCPT    'R'
#define SMFIC_DATA    'T'

/* replies (milter to MTA) */
#define SMFIR_ADDRCPT     '+'
#define SMFIR_DELRCPT     '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN    '4'
#define SMFIR_ACCEPT      'a'
#define SMFIR_REPLBODY    'b'
#define SMFIR_CONTINUE    'c'
#define SMFIR_DISCARD     'd'
#define SMFIR_CHGFROM     'e'
#define SMFIR_CONN_FAIL   'f'
#define SMFIR_ADDHEADER   'h'
#define SMFIR_INSHEADER   'i'
#define SMFIR_CHGHEADER   'm'
#define SMFIR_PROGRESS    'p'
#define SMFIR_QUARANTINE  'q'
#define SMFIR_REJECT      'r'
#define SMFIR_SKIP        's'
#define SMFIR_TEMPFAIL    't'
#define SMFIR_REPLYCODE   'y'

/* actions a milter may take (option negotiation) */
#define SMFIF_ADDHDRS     0x01
#define SMFIF_CHGBODY     0x02
#define SMFIF_ADDRCPT     0x04
#define SMFIF_DELRCPT     0x08
#define SMFIF_CHGHDRS     0x10
#define SMFIF_QUARANTINE  0x20
#define SMFIF_CHGFROM     0x40
#define SMFIF_ADDRCPT_PAR 0x80
#define SMFIF_SETSYMLIST  0x100
#define SMFIF_ALL         0x1ff

/* protocol steps a milter may do without (NO*) or not answer (NR_*) */
#define SMFIP_NOCONNECT   0x1
#define SMFIP_NOHELO      0x2
#define SMFIP_NOMAIL      0x4
#define SMFIP_NORCPT      0x8
#define SMFIP_NOBODY      0x10
#define SMFIP_NOHDRS      0x20
#define SMFIP_NOEOH       0x40
#define SMFIP_NR_HDR      0x80
#define SMFIP_NOUNKNOWN   0x100
#define SMFIP_NODATA      0x200
#define SMFIP_SKIP        0x400
#define SMFIP_RCPT_REJ    0x800
#define SMFIP_NR_CONN     0x1000
#define SMFIP_NR_HELO     0x2000
#define SMFIP_NR_MAIL     0x4000
#define SMFIP_NR_RCPT     0x8000
#define SMFIP_NR_DATA     0x10000
#define SMFIP_NR_UNKN     0x20000
#define SMFIP_NR_EOH      0x40000
#define SMFIP_NR_BODY     0x80000
#define SMFIP_HDR_LEADSPC 0x100000
/* what moat offers: every step may be skipped or left unanswered, but it
 * never sends rejected recipients (RCPT_REJ) and has no UNKNOWN step */
#define SMFIP_MOAT                                                                       \
	(SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOBODY |   \
	 SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA |    \
	 SMFIP_SKIP | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |    \
	 SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY |                  \
	 SMFIP_HDR_LEADSPC)

/* milter_put - one packet: cmd and len octets of data */
void milter_put(struct evbuffer *out, char cmd, const void *data, size_t len);
/* milter_put_strs - one packet: cmd and n NUL-terminated strings */
void milter_put_strs(struct evbuffer *out, char cmd, const char *const *strs, size_t n);
/* milter_put_optneg - our option negotiation */
void milter_put_optneg(struct evbuffer *out);

/*
 * milter_frame - the first whole packet in buf: its length in *plen (the
 * octets it takes), command and data; 1, 0 if it is not all here yet, -1
 * if it cannot be one (empty, or longer than MILTER_PACKET_MAX).
 */
int milter_frame(const unsigned char *buf, size_t len, size_t *plen, char *cmd,
                 const unsigned char **data, size_t *dlen);

/* a reply, parsed and checked */
struct milter_reply {
	char cmd;
	/* SMFIR_REPLYCODE: the lines, "NNN[-]x.y.z text" each, joined by \n,
	 * control octets gone; code is NNN (4xx or 5xx) */
	int code;
	char text[1024];
	/* header modifications */
	uint32_t index; /* INSHEADER: position; CHGHEADER: nth of the name */
	const char *name, *value;
	size_t value_len;
	/* ADDRCPT, ADDRCPT_PAR, DELRCPT, CHGFROM: the address (as given:
	 * with or without <>), and ESMTP arguments or NULL */
	const char *addr, *args;
	/* REPLBODY: a piece of the new body */
	const unsigned char *body;
	size_t body_len;
};

/*
 * milter_reply_parse - the reply of command cmd with data (pointers in r
 * point into data): 0, or -1 with the reason in err (an unknown reply,
 * missing NULs, a reply code that is not 4xx/5xx).
 */
int milter_reply_parse(char cmd, const unsigned char *data, size_t len,
                       struct milter_reply *r, char *err, size_t errsz);

/* milter_optneg_parse - the milter's option negotiation: its version,
 * actions and protocol flags (a symbol list after them is ignored) */
int milter_optneg_parse(const unsigned char *data, size_t len, uint32_t *version,
                        uint32_t *actions, uint32_t *protocol, char *err, size_t errsz);

#endif
