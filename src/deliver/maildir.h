/* SPDX-License-Identifier: ISC */
/*
 * maildir.h - local delivery into a Maildir (tmp/ → new/, fsynced).
 *
 * maildir_deliver() writes one recipient's copy of a queued message to
 * MAIL_DIR/<domain>/<user>/. The file name is derived from the queue id and
 * the recipient's index, and is linked into new/ with link(2): a second
 * attempt after a crash finds it there (EEXIST) and does not write twice.
 */
#ifndef MOAT_MAILDIR_H
#define MOAT_MAILDIR_H

#include "deliver/deliver.h"
#include "queue/envelope.h"

struct moat_conf;

void maildir_deliver(const struct moat_conf *conf, const struct envelope *env, int qfd,
                     size_t rcpt_index, struct dresult *res);

#endif
