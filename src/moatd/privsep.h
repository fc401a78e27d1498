/* SPDX-License-Identifier: ISC */
/*
 * privsep.h - moatd's privileges, directories and chroots (privsep.c).
 *
 * Who owns what: spool_dir and run_dir are root's (mode 0755), spool_dir's
 * subdirectories and mail_dir and state_dir are the run user's (0700), and
 * run_dir/empty (root's, 0555) is the bait server's chroot. The master
 * prepares them by descriptor (privsep_prepare_dirs); what lies inside the
 * run user's directories is made by a child that already is that user.
 */
#ifndef MOAT_PRIVSEP_H
#define MOAT_PRIVSEP_H

struct moat_conf;

/* What the master holds of the directories, by descriptor (-1: none). */
struct moat_dirs {
	int spool; /* spool_dir: the SMTP workers' chroot */
	int run;   /* run_dir: the control socket */
	int empty; /* run_dir/empty: the bait server's chroot (chroot = true) */
};

/* privsep_distrust - root trusts no file the run user could change (safefile.h) */
void privsep_distrust(const struct moat_conf *c);

/*
 * privsep_prepare_dirs - make and check every directory, fix owners and
 * modes by descriptor; 0, or -1 after logging why (start: fatal; reload:
 * the running configuration stays).
 */
int privsep_prepare_dirs(const struct moat_conf *c, struct moat_dirs *d);
void privsep_close_dirs(struct moat_dirs *d);

/* drop_privileges - become the run user for good (no-op unless started as root) */
void drop_privileges(const struct moat_conf *c);

/*
 * privsep_become_user - act as the run user (effective ids) while a child
 * opens what it needs before its chroot: what it makes is the user's, and
 * nothing the user controls is opened as root. Root stays in the saved ids
 * only for privsep_chroot(); the user can neither signal nor trace us.
 */
void privsep_become_user(const struct moat_conf *c);

/* privsep_chroot - chroot into dirfd (as root, for a moment), then drop for good */
void privsep_chroot(const struct moat_conf *c, int dirfd, const char *what);

/*
 * privsep_inside - path as seen from a chroot into root ("/" + the rest),
 * newly allocated; NULL if path is not under root
 */
char *privsep_inside(const char *root, const char *path);

#endif
