/* SPDX-License-Identifier: ISC */
/*
 * notify.c - moatd's side of systemd's service notification protocol
 * (sd_notify(3) through libsystemd), for a unit with Type=notify or
 * Type=notify-reload.
 *
 * Readiness of a generation: the master makes a pipe before it forks the
 * generation's children and closes its write end after; each child closes
 * its copy when its event loop is about to run. End of file on the read
 * end means every child got that far (or died trying, and is respawned),
 * and only then READY=1 goes out: the listeners were bound before any child
 * was forked. Counts for the STATUS= line come from the children in small
 * datagrams on a socketpair (pid, what, number); the master keeps the last
 * one of each child and adds them up. Everything is done from the master's
 * event loop, the watchdog's WATCHDOG=1 too: a master stuck in a loop or a
 * blocking call stops petting, and systemd restarts the service.
 * SECURITY: no network input. The datagrams come from our own children,
 * are read into a fixed struct and only added up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "moatd/notify.h"

/* One child's count, as it sends it and as the master keeps it. */
struct count_msg {
	pid_t pid;
	int what; /* enum notify_count */
	long n;
};

struct count_slot {
	struct count_msg msg;
	time_t at; /* when it came: a dead child's count goes stale */
};

#define COUNT_SLOTS 160 /* more than the master has children (MAX_CHILDREN) */

static struct {
	int enabled;
	struct event_base *base;
	int ready_rd, ready_wr; /* the generation's readiness pipe, or -1 */
	struct event *ready_ev;
	int report[2]; /* [0] master reads, [1] children send */
	struct event *report_ev, *status_ev, *watchdog_ev;
	struct count_slot slots[COUNT_SLOTS];
} nt = {.ready_rd = -1, .ready_wr = -1, .report = {-1, -1}};

/* In a child: its count's timer and getter. */
static struct event *child_ev;
static enum notify_count child_what;
static long (*child_count)(void);

/* say - one notification; a failure is logged, never fatal (systemd may be
 * gone while we stop) */
static void
say(const char *text)
{
	int r = sd_notify(0, text);

	if (r < 0)
		log_warnx("master: sd_notify: %s", strerror(-r));
}

/* counts - the open sessions of every SMTP worker that reported lately, and
 * the queue runner's last count */
static void
counts(long *sessions, long *queue)
{
	time_t stale = time(NULL) - 3 * NOTIFY_REPORT_SECONDS;
	time_t queue_at = 0;

	*sessions = 0;
	*queue = 0;
	for (size_t i = 0; i < COUNT_SLOTS; i++) {
		const struct count_slot *s = &nt.slots[i];
		if (s->msg.pid == 0 || s->at < stale)
			continue;
		if (s->msg.what == NOTIFY_SESSIONS)
			*sessions += s->msg.n;
		else if (s->msg.what == NOTIFY_QUEUE && s->at >= queue_at) {
			*queue = s->msg.n;
			queue_at = s->at;
		}
	}
}

/* say_status - STATUS= with the counts, after prefix (READY=1 and the like) */
static void
say_status(const char *prefix)
{
	char text[256];
	long sessions, queue;

	counts(&sessions, &queue);
	snprintf(text, sizeof(text), "%sSTATUS=sessions=%ld queue=%ld", prefix, sessions,
	         queue);
	say(text);
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	say_status("");
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	say("WATCHDOG=1");
}

/* report_cb - children's counts: the last of each child is kept */
static void
report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct count_msg msg;
	ssize_t n;

	while ((n = recv(fd, &msg, sizeof(msg), MSG_DONTWAIT)) >= 0) {
		struct count_slot *slot = NULL, *oldest = &nt.slots[0];
		if ((size_t)n != sizeof(msg) || msg.pid <= 0 ||
		    (msg.what != NOTIFY_SESSIONS && msg.what != NOTIFY_QUEUE))
			continue;
		for (size_t i = 0; i < COUNT_SLOTS && slot == NULL; i++)
			if (nt.slots[i].msg.pid == msg.pid)
				slot = &nt.slots[i];
		/* A new child takes a free slot, or the stalest one. */
		for (size_t i = 0; i < COUNT_SLOTS && slot == NULL; i++)
			if (nt.slots[i].at < oldest->at)
				oldest = &nt.slots[i];
		if (slot == NULL)
			slot = oldest;
		slot->msg = msg;
		slot->at = time(NULL);
	}
}

/* ready_cb - end of file: every child of the generation is ready */
static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return; /* nobody writes; wait for the end */
	event_free(nt.ready_ev);
	nt.ready_ev = NULL;
	close(nt.ready_rd);
	nt.ready_rd = -1;
	say_status("READY=1\n");
}

int
notify_open(struct event_base *base)
{
	struct timeval status_tv = {NOTIFY_STATUS_SECONDS, 0};
	uint64_t usec = 0;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	nt.base = base;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, nt.report) == -1)
		fatal("master: socketpair");
	fcntl(nt.report[0], F_SETFL, O_NONBLOCK);
	fcntl(nt.report[1], F_SETFL, O_NONBLOCK);
	nt.report_ev =
	    event_new(base, nt.report[0], EV_READ | EV_PERSIST, report_cb, NULL);
	nt.status_ev = event_new(base, -1, EV_PERSIST, status_cb, NULL);
	if (nt.report_ev == NULL || nt.status_ev == NULL)
		fatalx("master: event_new");
	event_add(nt.report_ev, NULL);
	event_add(nt.status_ev, &status_tv);
	/* WATCHDOG_USEC (and WATCHDOG_PID, when set, naming us): pet at half
	 * the interval, as sd_watchdog_enabled(3) advises. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		struct timeval tv = {(time_t)(usec / 2 / 1000000),
		                     (suseconds_t)(usec / 2 % 1000000)};
		nt.watchdog_ev = event_new(base, -1, EV_PERSIST, watchdog_cb, NULL);
		if (nt.watchdog_ev == NULL)
			fatalx("master: event_new");
		event_add(nt.watchdog_ev, &tv);
		say("WATCHDOG=1");
	}
	nt.enabled = 1;
	return 1;
}

void
notify_close(void)
{
	if (!nt.enabled)
		return;
	if (nt.ready_ev != NULL)
		event_free(nt.ready_ev);
	if (nt.watchdog_ev != NULL)
		event_free(nt.watchdog_ev);
	event_free(nt.status_ev);
	event_free(nt.report_ev);
	if (nt.ready_rd != -1)
		close(nt.ready_rd);
	close(nt.report[0]);
	close(nt.report[1]);
	nt.enabled = 0;
}

void
notify_generation_begin(void)
{
	int p[2];

	if (!nt.enabled)
		return;
	/* A generation still starting when the next begins: only the new
	 * one's readiness counts. */
	if (nt.ready_ev != NULL) {
		event_free(nt.ready_ev);
		nt.ready_ev = NULL;
		close(nt.ready_rd);
		nt.ready_rd = -1;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("master: pipe (readiness for systemd)");
		say_status("READY=1\n"); /* better early than never */
		return;
	}
	nt.ready_rd = p[0];
	nt.ready_wr = p[1];
	nt.ready_ev =
	    event_new(nt.base, nt.ready_rd, EV_READ | EV_PERSIST, ready_cb, NULL);
	if (nt.ready_ev == NULL)
		fatalx("master: event_new");
	event_add(nt.ready_ev, NULL);
}

void
notify_generation_spawned(void)
{
	/* Children forked from now on (respawns) do not hold it. */
	if (nt.ready_wr != -1)
		close(nt.ready_wr);
	nt.ready_wr = -1;
}

void
notify_reloading(void)
{
	char text[128];
	struct timespec ts;

	if (!nt.enabled)
		return;
	/* systemd 253 and later match a reload by this clock reading
	 * (Type=notify-reload; sd_notify(3), MONOTONIC_USEC). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000ULL);
	say(text);
}

void
notify_reload_failed(void)
{
	/* Still running, on the old configuration: ready again at once. */
	if (nt.enabled)
		say("READY=1\nSTATUS=reload failed: running the previous "
		    "configuration");
}

void
notify_stopping(void)
{
	if (nt.enabled)
		say("STOPPING=1\nSTATUS=stopping");
}

/* ---- in a child ---- */

void
notify_child_init(void)
{
	if (!nt.enabled)
		return;
	/* The master's events went with its event base; only its ends of the
	 * descriptors are left to drop. */
	if (nt.ready_rd != -1)
		close(nt.ready_rd);
	nt.ready_rd = -1;
	close(nt.report[0]);
	nt.report[0] = -1;
	nt.enabled = 0; /* a child never speaks to systemd itself */
}

void
notify_child_ready(void)
{
	if (nt.ready_wr != -1)
		close(nt.ready_wr);
	nt.ready_wr = -1;
}

/* child_send - this child's count to the master; a full socket drops it */
static void
child_send(evutil_socket_t fd, short what, void *arg)
{
	struct count_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.pid = log_pid();
	msg.what = (int)child_what;
	msg.n = child_count();
	(void)send(nt.report[1], &msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void
notify_child_report(struct event_base *base, enum notify_count what, long (*count)(void))
{
	struct timeval tv = {NOTIFY_REPORT_SECONDS, 0};

	if (nt.report[1] == -1 || child_ev != NULL)
		return;
	child_what = what;
	child_count = count;
	if ((child_ev = event_new(base, -1, EV_PERSIST, child_send, NULL)) == NULL)
		return;
	event_add(child_ev, &tv);
	child_send(-1, 0, NULL);
}
