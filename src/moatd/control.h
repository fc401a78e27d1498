/* SPDX-License-Identifier: ISC */
/*
 * control.h - the control socket of moatd, and its protocol.
 *
 * The master binds run_dir/moatd.sock as root before it forks (control_listen);
 * the control process serves it on its own loop (control_new) as the run
 * user. moatctl is the client.
 *
 * Protocol: the client sends one request line (at most CONTROL_LINE_MAX
 * octets, LF included; printable ASCII words separated by spaces). The
 * daemon answers with lines ending in LF: first "ok" or "error: why", then
 * the body, then a line holding a lone "."; a body line that starts with "."
 * gets one more "." in front (the client removes it, as in RFC 5321 §4.5.2).
 * Then the daemon closes the connection: one request per connection.
 */
#ifndef MOAT_CONTROL_H
#define MOAT_CONTROL_H

#define CONTROL_SOCKET_NAME "moatd.sock" /* in run_dir */
#define CONTROL_LINE_MAX    1024         /* a request line, LF included */

/* What the master answers to a reload request, one byte on the channel. */
#define CONTROL_RELOAD_REQUEST 'R'
enum control_reload {
	CONTROL_RELOAD_OK = 0,   /* new children run the new configuration */
	CONTROL_RELOAD_ERRORS,   /* the file has errors: the old one stays */
	CONTROL_RELOAD_LISTENERS /* listeners changed: that needs a restart */
};

struct event_base;
struct moat_conf;
struct control;

/*
 * control_listen - bind and listen on CONTROL_SOCKET_NAME in the directory
 * dirfd (root's; path names it for messages), mode 0600; call as root,
 * before fork. A stale socket of ours is removed, a live one is an error;
 * anything else found there was planted and is removed with a log line.
 * fd, or fatal.
 */
int control_listen(int dirfd, const char *path);
/* control_unlink - remove the socket at exit, if it still is ours */
void control_unlink(int dirfd);

/*
 * control_new - serve listen_fd on base, in the control process, after it
 * dropped privileges. master_fd carries reload requests to the master and
 * its answer back; notify_fd takes queue ids for the queue runner.
 */
struct control *control_new(struct event_base *base, const struct moat_conf *conf,
                            int listen_fd, int master_fd, int notify_fd);
/* control_drain - accept no more; leave the loop once the last request is answered */
void control_drain(struct control *ctl);
void control_free(struct control *ctl);

/*
 * control_export - also write the rbldnsd zone of bait { export_file }
 * periodically, when one is configured (control_traps.c)
 */
void control_export(struct control *ctl);

/*
 * control_metrics - also serve GET /metrics (Prometheus text format) on
 * the listening TCP socket fd, bound by the master (control_metrics.c)
 */
void control_metrics(struct control *ctl, int fd);

#endif
