/* SPDX-License-Identifier: ISC */
/*
 * deliver.h - moat-sendmail's -bm (the default) and -bs: a message read
 * from standard input handed to moatd, or an SMTP session passed through.
 * Both return an exit status of sysexits.h.
 */
#ifndef MOAT_SM_DELIVER_H
#define MOAT_SM_DELIVER_H

#include <stdio.h>

#include "sendmail/options.h"
#include "sendmail/smconf.h"

#define SM_MESSAGE_MAX (512UL * 1024 * 1024) /* moatd's own limit is lower */

/* sm_deliver - read the message from in and submit it on socket */
int sm_deliver(const struct sm_opts *o, const struct sm_conf *c, const char *socket,
               FILE *in);
/* sm_passthrough - -bs: standard input to the socket, its replies to
 * standard output, until either side ends */
int sm_passthrough(const struct sm_opts *o, const char *socket);
/* sm_connect_status - the exit status and message for a failed connect */
int sm_connect_status(const char *socket, int err);

#endif
