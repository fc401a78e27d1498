"""postfix_peer - a private Postfix instance: what the end-to-end tests
(tests/e2e/peers.py, Postfix) and the benchmarks (bench/lib.py, Postfix)
share.

    class Postfix(PostfixInstance, ...):      # self.dir already made
        def __init__(self, ...):
            ...
            self.postfix_init()                # etc/, queue/, data/, maillog
        def start(self):
            self.start_postfix(self.main_cf(), self.master_cf())
            ... wait for self.port ...
        def stop(self):
            self.stop_postfix()

The instance has its own config_directory (etc/), queue_directory and
data_directory under self.dir, listens on 127.0.0.1:self.port only (its
own master.cf), resolves nothing (smtp_dns_support_level = disabled) and
logs to self.logfile. It is started with `postfix -c DIR start` as root and
stopped with `postfix -c DIR stop`; a system Postfix, if any, is never
touched. main_cf() gives the settings both users need, which their own
settings extend or override.
"""

import os
import shutil
import subprocess
import time

POSTFIX = "/usr/sbin/postfix"

# master.cf rows after smtpd's: the services a relaying Postfix runs.
_SERVICES = [
    ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
    ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
    ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
    ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
    ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
    ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
    ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
    ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
    ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
    ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
    ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
    ("error", "unix", "-", "-", "n", "-", "-", "error"),
    ("retry", "unix", "-", "-", "n", "-", "-", "error"),
    ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
    ("local", "unix", "-", "n", "n", "-", "-", "local"),
    ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
    ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
    ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
]


class PostfixInstance:
    """The life cycle of a private Postfix under self.dir on self.port."""

    def postfix_init(self):
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "maillog")
        self.started = False

    def main_cf(self, **settings):
        """main.cf: the private directories, loopback only, no DNS, no
        local mailboxes, logging to self.logfile; then settings."""
        conf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "relay_domains": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            # No DNS at all: never the machine's resolver.
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "biff": "no",
            "maillog_file": self.logfile,
            "maillog_file_prefixes": self.dir,
            "shlib_directory": "/usr/lib/postfix",
        }
        conf.update(settings)
        return "".join("%s = %s\n" % kv for kv in conf.items())

    def master_cf(self, smtpd_maxproc="-", local=True):
        """master.cf: smtpd on 127.0.0.1:self.port, and the usual services
        (the local delivery agent only if local)."""
        svc = [("127.0.0.1:%d" % self.port, "inet", "n", "-", "n", "-",
                str(smtpd_maxproc), "smtpd")]
        svc += [s for s in _SERVICES if local or s[0] != "local"]
        return "".join("%-22s %-10s %-2s %-2s %-2s %-5s %-5s %s\n" % s for s in svc)

    def postfix(self, *args, check=True, timeout=120):
        """Run `postfix -c etc/ ARGS`; output (stdout and stderr) in .stdout."""
        return subprocess.run([POSTFIX, "-c", self.etc] + list(args),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=check,
                              timeout=timeout)

    def start_postfix(self, main_cf, master_cf, files=None):
        """Write the configuration (and files: {name in etc/: text}), then
        start the master; the caller waits for self.port."""
        for d in (self.etc, self.queue, self.data):
            os.makedirs(d, exist_ok=True)
        shutil.chown(self.data, "postfix", "postfix")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(main_cf)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(master_cf)
        for name, text in (files or {}).items():
            with open(os.path.join(self.etc, name), "w") as f:
                f.write(text)
        # Creates the queue tree with the right owners, then starts master.
        self.postfix("set-permissions", check=False)
        r = self.postfix("start", check=False)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed:\n%s\n%s" % (r.stdout, self.log()))
        self.started = True

    def master_pid(self):
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            return int(f.read().strip())

    def stop_postfix(self, timeout=30.0):
        """Stop (or abort) the master and wait until it is gone; returns its
        pid (None if unknown), for callers that sweep up what outlived it."""
        if not self.started:
            return None
        self.started = False
        try:
            pid = self.master_pid()
        except (OSError, ValueError):
            pid = None
        r = self.postfix("stop", check=False)
        if r.returncode != 0:
            self.postfix("abort", check=False)
        deadline = time.time() + timeout
        while pid is not None and time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        return pid

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
