/*
 * test_qstore - the queue directory on a real file system: the round
 * trip, recovery at start (leftovers, orphans, corrupt envelopes moved
 * aside), the permission checks, and the failure paths (a write that
 * fails with EFBIG under RLIMIT_FSIZE, an envelope qenv_format refuses):
 * each leaves nothing of the message and a store that still works.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue/qspare.h"
#include "queue/qstore.h"

struct fix {
	char	top[64];	/* the mkdtemp folder */
	char	dir[96];	/* top/q: the queue directory */
};

struct seen {
	unsigned		 n;
	uint64_t		 ids[8];
	unsigned long long	 sizes[8];
	unsigned		 nbad;
	uint64_t		 bad[8];
	char			 badwhy[256];
};

static int
rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)type;
	(void)f;
	return remove(p);
}

static int
setup(void **state)
{
	struct fix	*fx;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->top, sizeof(fx->top), "/tmp/test_qstore.XXXXXX");
	if (mkdtemp(fx->top) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/q", fx->top);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;

	(void)nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* names in dir (sorted by strcmp: the C locale's alphasort) into out */
static const char *
ls(const char *dir, char *out, size_t outlen)
{
	struct dirent	**de;
	int		  n, i;

	out[0] = '\0';
	n = scandir(dir, &de, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (de[i]->d_name[0] != '.') {
			if (out[0] != '\0')
				strncat(out, " ", outlen - strlen(out) - 1);
			strncat(out, de[i]->d_name, outlen - strlen(out) - 1);
		}
		free(de[i]);
	}
	free(de);
	return out;
}

/* names in a list of ls() that start with c */
static int
count_prefix(const char *names, char c)
{
	const char	*p;
	int		 n = 0;

	for (p = names; *p != '\0'; p++)
		if (*p == c && (p == names || p[-1] == ' '))
			n++;
	return n;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names in s (space-separated) sorted as ls() sorts them */
static char *
sorted(char *s)
{
	char	*w[16], copy[512], *p;
	size_t	 n = 0, i;

	snprintf(copy, sizeof(copy), "%s", s);
	for (p = strtok(copy, " "); p != NULL && n < 16; p = strtok(NULL, " "))
		w[n++] = p;
	qsort(w, n, sizeof(w[0]), cmp_str);
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, w[i]);
	}
	return s;
}

static void
put_file(const char *dir, const char *name, const char *text)
{
	char	path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
sample(struct qenv *e, uint64_t id)
{
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->arrival = 1733430000;
	e->next = 1733430000;
	assert_int_equal(qenv_set(&e->listener, "local"), 0);
	assert_int_equal(qenv_set(&e->client, "[192.0.2.1]:4711"), 0);
	assert_int_equal(qenv_set(&e->sender, "billing@example.com"), 0);
	assert_int_equal(qenv_add_rcpt(e, "a@example.net", 0, NULL), 0);
	assert_int_equal(qenv_add_rcpt(e, "b@example.net", 0, NULL), 0);
}

/*
 * The store's fsyncs of its directory and its renameats, logged in order
 * while oplog_on: "D" a directory fsync, "F" one made to fail
 * (fail_dir_fsync), "R:NAME" a rename of NAME (the link wraps fsync and
 * renameat: tests/CMakeLists.txt).  Commits rename with renameat2, not
 * logged.
 */
int	__real_fsync(int);
int	__real_renameat(int, const char *, int, const char *);
int	__wrap_fsync(int);
int	__wrap_renameat(int, const char *, int, const char *);

static char	oplog[1024];
static ino_t	oplog_dir;
static int	oplog_on, fail_dir_fsync;
/* renames into the trash ("tN") made to fail with EIO, whatever oplog_on */
static int	fail_trash_rename;

static void
oplog_add(const char *what)
{
	size_t	n = strlen(oplog);

	snprintf(oplog + n, sizeof(oplog) - n, "%s%s", n > 0 ? " " : "",
	    what);
}

int
__wrap_fsync(int fd)
{
	struct stat	st;

	if (oplog_on && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_ino == oplog_dir) {
		if (fail_dir_fsync > 0) {
			fail_dir_fsync--;
			oplog_add("F");
			errno = EIO;
			return -1;
		}
		oplog_add("D");
	}
	return __real_fsync(fd);
}

int
__wrap_renameat(int ofd, const char *from, int nfd, const char *to)
{
	char	what[64];
	int	r;

	if (fail_trash_rename > 0 && to[0] == 't') {
		fail_trash_rename--;
		errno = EIO;
		return -1;
	}
	r = __real_renameat(ofd, from, nfd, to);
	if (oplog_on && r == 0) {
		snprintf(what, sizeof(what), "R:%s", from);
		oplog_add(what);
	}
	return r;
}

/* the log started afresh, for the directory of fx */
static void
oplog_start(const char *dir)
{
	struct stat	st;

	assert_int_equal(stat(dir, &st), 0);
	oplog_dir = st.st_ino;
	oplog[0] = '\0';
	oplog_on = 1;
}

/* a message of len octets written in pieces of 100; returns its id */
static uint64_t
put_msg(struct qstore *qs, size_t len)
{
	struct qstore_msg	*m;
	struct qenv		 e;
	char			 piece[100], why[QSTORE_WHY_MAX];
	uint64_t		 id;
	size_t			 off, n;

	assert_true((id = qstore_new_id()) != 0);
	m = qstore_msg_begin(qs, id, why, sizeof(why));
	assert_non_null(m);
	for (off = 0; off < len; off += n) {
		n = len - off < sizeof(piece) ? len - off : sizeof(piece);
		memset(piece, 'a' + (int)(off / 100 % 26), n);
		assert_int_equal(qstore_msg_write(m, piece, n, why,
		    sizeof(why)), 0);
	}
	assert_int_equal(qstore_msg_size(m), len);
	sample(&e, id);
	if (qstore_msg_commit(m, &e, why, sizeof(why)) != 0)
		fail_msg("commit: %s", why);
	assert_int_equal(e.size, len);
	qenv_free(&e);
	return id;
}

/*
 * ID.msg as put_msg wrote it: len octets of the message, then its
 * envelope (naming id and len), then the tail giving the envelope's
 * length; the whole file's length is the sum
 */
static void
check_msg(struct qstore *qs, uint64_t id, size_t len)
{
	struct qenv	 e;
	struct stat	 st;
	char		*buf, why[QSTORE_WHY_MAX];
	size_t		 i, envlen;
	int		 fd;

	assert_true((fd = qstore_msg_fd(qs, id, why, sizeof(why))) >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((size_t)st.st_size > len + QENV_TAIL_LEN);
	assert_non_null(buf = malloc((size_t)st.st_size));
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] != 'a' + i / 100 % 26)
			fail_msg("octet %zu is %02x", i, (unsigned char)buf[i]);
	assert_int_equal(qenv_tail_parse(buf + st.st_size - QENV_TAIL_LEN,
	    QENV_TAIL_LEN, &envlen), 0);
	assert_int_equal(len + envlen + QENV_TAIL_LEN, st.st_size);
	if (qenv_parse(buf + len, envlen, &e, why, sizeof(why)) != 0)
		fail_msg("the envelope in ID.msg: %s", why);
	assert_int_equal(e.id, id);
	assert_int_equal(e.size, len);
	qenv_free(&e);
	free(buf);
}

static int
seen_fn(void *arg, const struct qenv *e, unsigned long long msgsize)
{
	struct seen	*s = arg;

	assert_true(s->n < 8);
	s->ids[s->n] = e->id;
	s->sizes[s->n++] = msgsize;
	return 0;
}

static void
seen_bad(void *arg, uint64_t id, const char *why)
{
	struct seen	*s = arg;

	assert_true(s->nbad < 8);
	s->bad[s->nbad++] = id;
	snprintf(s->badwhy, sizeof(s->badwhy), "%s", why);
}

/* one gateway per queue directory: a second open is refused */
static void
test_locked(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs, *qs2;
	char		 why[QSTORE_WHY_MAX];

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_null(qs2 = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "in use by another smtpgate"));
	qstore_close(qs);
	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	qstore_close(qs);
}

static void
test_round_trip(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	struct qenv	 e;
	struct seen	 s = { 0 };
	char		 why[QSTORE_WHY_MAX], names[512], want[64], inc[128];
	char		 buf[4096];
	uint64_t	 id;
	unsigned	 removed = 99;
	struct stat	 st;

	qs = qstore_open(fx->dir, &removed, why, sizeof(why));
	if (qs == NULL)
		fail_msg("open: %s", why);
	assert_int_equal(removed, 0);
	assert_string_equal(qstore_dir(qs), fx->dir);
	assert_int_equal(stat(fx->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* 150,000 octets: the 64 KiB buffer flushed twice, then the rest */
	id = put_msg(qs, 150000);
	/* one file: the message, its envelope and the tail */
	snprintf(want, sizeof(want), "%016llx.msg incoming spare",
	    (unsigned long long)id);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), want);
	snprintf(inc, sizeof(inc), "%s/incoming", fx->dir);
	assert_string_equal(ls(inc, names, sizeof(names)), "");
	snprintf(buf, sizeof(buf), "%s/%016llx.msg", fx->dir,
	    (unsigned long long)id);
	assert_int_equal(stat(buf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 1);
	assert_int_equal(s.ids[0], id);
	assert_int_equal(s.sizes[0], 150000);
	assert_int_equal(s.nbad, 0);

	/* the message reads back as written */
	check_msg(qs, id, 150000);

	/* a recipient's new state: rewritten to ID.env, loaded back */
	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), 0);
	assert_int_equal(e.size, 150000);
	assert_string_equal(e.sender, "billing@example.com");
	e.rcpt[0].state = QR_DELIVERED;
	e.attempts = 1;
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), 0);
	assert_int_equal(e.rcpt[0].state, QR_DELIVERED);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(qenv_pending(&e), 1);
	qenv_free(&e);
	assert_string_equal(ls(inc, names, sizeof(names)), "");
	snprintf(want, sizeof(want), "%016llx.env %016llx.msg incoming spare",
	    (unsigned long long)id, (unsigned long long)id);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), want);
	check_msg(qs, id, 150000);	/* ID.msg as it was */

	/*
	 * done: ID.msg goes now, ID.env after the fsync that makes that
	 * durable (qstore_sync); then both are gone, and a second remove
	 * says so
	 */
	assert_int_equal(qstore_unsynced(qs), 0);
	assert_int_equal(qstore_remove(qs, id, why, sizeof(why)), 0);
	snprintf(want, sizeof(want), "%016llx.env incoming spare",
	    (unsigned long long)id);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), want);
	assert_int_equal(qstore_unsynced(qs), 1);
	/* the message is gone for a reader already */
	assert_int_equal(qstore_msg_fd(qs, id, why, sizeof(why)), -1);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");
	assert_int_equal(qstore_unsynced(qs), 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 0);
	assert_int_equal(qstore_remove(qs, id, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "No such file"));
	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), -1);
	qenv_free(&e);
	/* a rewrite of a removed message would make an orphan envelope */
	sample(&e, id);
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), -1);
	qenv_free(&e);
	assert_int_equal(qstore_msg_fd(qs, id, why, sizeof(why)), -1);
	s.n = 0;
	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 0);
	qstore_close(qs);
}

static void
test_abort_and_ids(void **state)
{
	struct fix		*fx = *state;
	struct qstore		*qs;
	struct qstore_msg	*m;
	struct qenv		 e;
	char			 why[QSTORE_WHY_MAX], names[256];
	uint64_t		 id, id2;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	id = qstore_new_id();
	id2 = qstore_new_id();
	assert_true(id != 0 && id2 != 0 && id != id2);
	assert_non_null(m = qstore_msg_begin(qs, id, why, sizeof(why)));
	/* the same id twice at once: refused */
	assert_null(qstore_msg_begin(qs, id, why, sizeof(why)));
	assert_int_equal(qstore_msg_write(m, "x\r\n", 3, why, sizeof(why)), 0);
	qstore_msg_abort(m);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");
	assert_null(qstore_msg_begin(qs, 0, why, sizeof(why)));

	/* an envelope of another id: refused, nothing left */
	assert_non_null(m = qstore_msg_begin(qs, id, why, sizeof(why)));
	sample(&e, id2);
	assert_int_equal(qstore_msg_commit(m, &e, why, sizeof(why)), -1);
	qenv_free(&e);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");

	/* the id in use is not handed out, and begin refuses it */
	id = put_msg(qs, 10);
	assert_null(qstore_msg_begin(qs, id, why, sizeof(why)));
	assert_non_null(strstr(why, "File exists"));
	qstore_close(qs);
}

static void
test_id_parse(void **state)
{
	static const struct {
		const char	*s;
		int		 r;
		uint64_t	 id;
	} t[] = {
		{ "3f2a9c0d11e84b27", 0, 0x3f2a9c0d11e84b27ull },
		{ "ffffffffffffffff", 0, UINT64_MAX },
		{ "0000000000000001", 0, 1 },
		{ "3F2A9C0D11E84B27", -1, 0 },	/* file names are lowercase */
		{ "3f2a9c0d11e84b2", -1, 0 },
		{ "3f2a9c0d11e84b270", -1, 0 },
		{ "3f2a9c0d11e84b2g", -1, 0 },
		{ "", -1, 0 },
		{ "3f2a9c0d11e84b27.env", -1, 0 },
	};
	uint64_t	id;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		id = 0;
		if (qstore_id_parse(t[i].s, &id) != t[i].r ||
		    (t[i].r == 0 && id != t[i].id))
			fail_msg("\"%s\": got %d %llx", t[i].s,
			    qstore_id_parse(t[i].s, &id),
			    (unsigned long long)id);
	}
}

/* path's octets from off to the end moved one octet on, x put at off */
static void
insert_octet(const char *path, long off, char x)
{
	FILE	*f;
	char	*buf;
	long	 len;

	assert_non_null(f = fopen(path, "r+"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_non_null(buf = malloc((size_t)len + 1));
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	memmove(buf + off + 1, buf + off, (size_t)(len - off));
	buf[off] = x;
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(buf, 1, (size_t)len + 1, f), (size_t)len + 1);
	assert_int_equal(fclose(f), 0);
	free(buf);
}

/* an envelope alone in DIR/ID.env, of a message of size octets */
static void
put_env(const char *dir, uint64_t id, unsigned long long size)
{
	struct qenv	 e;
	char		*text, why[QSTORE_WHY_MAX], name[32];
	size_t		 len;

	sample(&e, id);
	e.size = size;
	assert_int_equal(qenv_format(&e, &text, &len, why, sizeof(why)), 0);
	snprintf(name, sizeof(name), "%016llx.env", (unsigned long long)id);
	put_file(dir, name, text);
	free(text);
	qenv_free(&e);
}

static void
test_recovery(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	struct qenv	 e;
	struct seen	 s = { 0 };
	char		 why[QSTORE_WHY_MAX], names[512], want[512], sub[128];
	char		 a[32], c[32], d[32], h[32];
	uint64_t	 ida, idd, idh;
	unsigned	 removed, i, seen_a, seen_old;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	ida = put_msg(qs, 1000);
	idd = put_msg(qs, 10);
	idh = put_msg(qs, 10);
	/* a's and d's envelopes rewritten: ID.env stands for ID.msg's */
	assert_int_equal(qstore_env_load(qs, ida, &e, why, sizeof(why)), 0);
	e.attempts = 3;
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
	assert_int_equal(qstore_env_load(qs, idd, &e, why, sizeof(why)), 0);
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
	qstore_close(qs);
	snprintf(a, sizeof(a), "%016llx", (unsigned long long)ida);
	snprintf(d, sizeof(d), "%016llx", (unsigned long long)idd);
	snprintf(h, sizeof(h), "%016llx", (unsigned long long)idh);
	snprintf(c, sizeof(c), "00000000000000c1");

	/* a crash mid-write: files in incoming/ */
	put_file(fx->dir, "incoming/00000000000000f1.msg", "half a mess");
	put_file(fx->dir, "incoming/00000000000000f1.env", "smtpgate-q");
	/* a crash mid-remove: an ID.env without its ID.msg */
	put_file(fx->dir, "00000000000000b1.env", "smtpgate-queue 1\nend\n");
	/* an ID.msg with no envelope at its end and no ID.env */
	put_file(fx->dir, "00000000000000e1.msg", "Subject: x\r\n\r\nx\r\n");
	/* an envelope that does not parse, with its message */
	put_file(fx->dir, "00000000000000c1.env", "smtpgate-queue 1\nid 00");
	put_file(fx->dir, "00000000000000c1.msg", "Subject: c\r\n\r\nc\r\n");
	/* long enough for a tail, and none; a tail longer than its file */
	put_file(fx->dir, "00000000000000e2.msg", "Subject: a longer one\r\n"
	    "\r\nwith a body of some length\r\n");
	put_file(fx->dir, "00000000000000e3.msg", "Subject: x\r\n\r\nx\r\n"
	    "smtpgate-envelope 0000000000000100\n");
	/* a tail that points at what does not parse */
	put_file(fx->dir, "00000000000000e4.msg", "Subject: x\r\n\r\nx\r\n"
	    "smtpgate-queue 1\nid 00\nsmtpgate-envelope 0000000000000017\n");
	/* an ID.msg that is not a file, its envelope rewritten */
	snprintf(want, sizeof(want), "%s/00000000000000d1.msg", fx->dir);
	assert_int_equal(mkdir(want, 0700), 0);
	put_env(fx->dir, 0xd1, 17);
	/* the last version's two files: an ID.msg that is only the message */
	put_file(fx->dir, "0000000000000a10.msg", "Subject: o\r\n\r\no\r\n");
	put_env(fx->dir, 0xa10, 17);
	/* an operator's file, not ours: left alone */
	put_file(fx->dir, "README", "hands off");

	qs = qstore_open(fx->dir, &removed, why, sizeof(why));
	if (qs == NULL)
		fail_msg("open: %s", why);
	assert_int_equal(removed, 3);
	snprintf(sub, sizeof(sub), "%s/incoming", fx->dir);
	assert_string_equal(ls(sub, names, sizeof(names)), "");

	/* d's envelope made to name a's id: corrupt as well */
	snprintf(names, sizeof(names), "%s/%s.env", fx->dir, a);
	snprintf(want, sizeof(want), "%s/%s.env", fx->dir, d);
	assert_int_equal(unlink(want), 0);
	assert_int_equal(link(names, want), 0);
	/* h's message one octet longer than its envelope says */
	snprintf(want, sizeof(want), "%s/%s.msg", fx->dir, h);
	insert_octet(want, 3, 'x');

	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 2);
	seen_a = seen_old = 0;
	for (i = 0; i < 2; i++) {
		if (s.ids[i] == ida) {
			assert_int_equal(s.sizes[i], 1000);
			seen_a++;
		} else {
			assert_int_equal(s.ids[i], 0xa10);
			assert_int_equal(s.sizes[i], 17);
			seen_old++;
		}
	}
	assert_true(seen_a == 1 && seen_old == 1);
	assert_int_equal(s.nbad, 8);
	snprintf(want, sizeof(want), "0000000000000a10.env "
	    "0000000000000a10.msg %s.env %s.msg README corrupt incoming spare",
	    a, a);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), sorted(want));
	snprintf(sub, sizeof(sub), "%s/corrupt", fx->dir);
	snprintf(want, sizeof(want), "%s.env %s.msg %s.env %s.msg "
	    "00000000000000e1.msg 00000000000000e2.msg 00000000000000e3.msg "
	    "00000000000000e4.msg 00000000000000d1.env 00000000000000d1.msg "
	    "%s.msg", c, c, d, d, h);
	assert_string_equal(ls(sub, names, sizeof(names)), sorted(want));
	/* a's rewritten envelope is the one read */
	assert_int_equal(qstore_env_load(qs, ida, &e, why, sizeof(why)), 0);
	assert_int_equal(e.attempts, 3);
	qenv_free(&e);
	check_msg(qs, ida, 1000);

	/* the second scan finds them gone, and the good ones still good */
	s.n = s.nbad = 0;
	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 2);
	assert_int_equal(s.nbad, 0);

	/* a name already in corrupt/ is not replaced: left, reported */
	put_file(fx->dir, "00000000000000e1.msg", "Subject: x\r\n\r\nx\r\n");
	s.n = s.nbad = 0;
	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 2);
	assert_int_equal(s.nbad, 1);
	assert_int_equal(s.bad[0], 0xe1);
	assert_non_null(strstr(s.badwhy, "no envelope at its end"));
	assert_non_null(strstr(s.badwhy, "not moved aside"));
	assert_non_null(strstr(s.badwhy, "corrupt/00000000000000e1.msg: "
	    "File exists"));
	snprintf(sub, sizeof(sub), "%s/00000000000000e1.msg", fx->dir);
	assert_int_equal(unlink(sub), 0);
	qstore_close(qs);
	assert_non_null(qs = qstore_open(fx->dir, &removed, why, sizeof(why)));
	assert_int_equal(removed, 0);
	qstore_close(qs);
}

/*
 * a rewritten envelope waits for the fsync after its message's removal;
 * a stop before it leaves the ID.env alone, which the next start removes
 */
static void
test_remove_cut_short(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	struct qenv	 e;
	struct seen	 s = { 0 };
	char		 why[QSTORE_WHY_MAX], names[256], want[64];
	uint64_t	 id, keep;
	unsigned	 removed = 99;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	id = put_msg(qs, 300);
	keep = put_msg(qs, 200);
	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), 0);
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
	assert_int_equal(qstore_remove(qs, id, why, sizeof(why)), 0);
	qstore_close(qs);
	snprintf(want, sizeof(want), "%016llx.env %016llx.msg incoming spare",
	    (unsigned long long)id, (unsigned long long)keep);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), sorted(want));
	assert_non_null(qs = qstore_open(fx->dir, &removed, why,
	    sizeof(why)));
	assert_int_equal(removed, 1);
	snprintf(want, sizeof(want), "%016llx.msg incoming spare",
	    (unsigned long long)keep);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), want);
	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 1);
	assert_int_equal(s.ids[0], keep);
	qstore_close(qs);
}

/* the envelope rewritten: ID.env then stands for the one in ID.msg */
static void
rewrite(struct qstore *qs, uint64_t id)
{
	struct qenv	e;
	char		why[QSTORE_WHY_MAX];

	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), 0);
	e.attempts++;
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
}

/* a message with a rewritten envelope, removed with the log started */
static uint64_t
removed_rewritten(struct qstore *qs, const char *dir)
{
	char		why[QSTORE_WHY_MAX];
	uint64_t	id;

	id = put_msg(qs, 100);
	rewrite(qs, id);
	oplog_start(dir);
	assert_int_equal(qstore_remove(qs, id, why, sizeof(why)), 0);
	return id;
}

/*
 * a removal's ID.env goes only after a directory fsync that followed
 * its ID.msg's rename out (a commit's counts); a failed fsync keeps it
 * waiting, and the next qstore_sync does it
 */
static void
test_env_after_fsync(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	char		 why[QSTORE_WHY_MAX], want[256], path[160];
	uint64_t	 a, b, c;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	a = removed_rewritten(qs, fx->dir);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	snprintf(want, sizeof(want), "R:%016llx.msg D R:%016llx.env D",
	    (unsigned long long)a, (unsigned long long)a);
	assert_string_equal(oplog, want);

	/* a commit's fsync between: it covers the removal, one fsync less */
	b = removed_rewritten(qs, fx->dir);
	(void)put_msg(qs, 50);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	snprintf(want, sizeof(want), "R:%016llx.msg D R:%016llx.env D",
	    (unsigned long long)b, (unsigned long long)b);
	assert_string_equal(oplog, want);

	/* the fsync fails: ID.env stays, and waits for the next try */
	c = removed_rewritten(qs, fx->dir);
	fail_dir_fsync = 1;
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), -1);
	assert_non_null(strstr(why, ".: fsync: Input/output error"));
	snprintf(path, sizeof(path), "%s/%016llx.env", fx->dir,
	    (unsigned long long)c);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(qstore_unsynced(qs), 1);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(qstore_unsynced(qs), 0);
	snprintf(want, sizeof(want), "R:%016llx.msg F D R:%016llx.env D",
	    (unsigned long long)c, (unsigned long long)c);
	assert_string_equal(oplog, want);
	oplog_on = 0;
	qstore_close(qs);
}

static void
test_permissions(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	char		 why[QSTORE_WHY_MAX], path[160];

	/* open to others */
	assert_int_equal(mkdir(fx->dir, 0700), 0);
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "mode 0755"));
	assert_int_equal(chmod(fx->dir, 0700), 0);
	/* another user's (root can give it away to check) */
	if (geteuid() == 0) {
		assert_int_equal(chown(fx->dir, 1, 1), 0);
		assert_null(qstore_open(fx->dir, NULL, why, sizeof(why)));
		assert_non_null(strstr(why, "owned by uid 1"));
		assert_int_equal(chown(fx->dir, 0, 0), 0);
	}
	/* a file in place of incoming/ */
	put_file(fx->dir, "incoming", "");
	assert_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "incoming: not a directory"));
	snprintf(path, sizeof(path), "%s/incoming", fx->dir);
	assert_int_equal(unlink(path), 0);
	/* an incoming/ open to others */
	assert_int_equal(mkdir(path, 0777), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "mode 0777"));
	assert_int_equal(rmdir(path), 0);
	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	qstore_close(qs);

	/* a file in place of the directory */
	snprintf(path, sizeof(path), "%s/file", fx->top);
	put_file(fx->top, "file", "");
	assert_null(qs = qstore_open(path, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "not a directory"));
	/* only the last component is created */
	snprintf(path, sizeof(path), "%s/no/q", fx->top);
	assert_null(qs = qstore_open(path, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "No such file"));
}

/* RLIMIT_FSIZE at limit with SIGXFSZ ignored: a write past it is EFBIG */
static void
fsize_limit(struct rlimit *old, rlim_t limit)
{
	struct rlimit	rl;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, old), 0);
	rl = *old;
	rl.rlim_cur = limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void
test_write_fails(void **state)
{
	struct fix		*fx = *state;
	struct qstore		*qs;
	struct qstore_msg	*m;
	struct qenv		 e;
	struct rlimit		 old;
	struct seen		 s = { 0 };
	char			 why[QSTORE_WHY_MAX], names[256], sub[128];
	char			 piece[1000], addr[64];
	uint64_t		 id;
	int			 i, r = 0;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	snprintf(sub, sizeof(sub), "%s/incoming", fx->dir);
	signal(SIGXFSZ, SIG_IGN);

	/* the message's write fails mid-way (at a buffer flush) */
	fsize_limit(&old, 100000);
	id = qstore_new_id();
	assert_non_null(m = qstore_msg_begin(qs, id, why, sizeof(why)));
	memset(piece, 'x', sizeof(piece));
	for (i = 0; i < 300 && r == 0; i++)
		r = qstore_msg_write(m, piece, sizeof(piece), why,
		    sizeof(why));
	assert_int_equal(r, -1);
	assert_non_null(strstr(why, "incoming/"));
	assert_non_null(strstr(why, ".msg: write: File too large"));
	/* the error sticks, and the commit says so and removes the file */
	assert_int_equal(qstore_msg_write(m, "x", 1, why, sizeof(why)), -1);
	sample(&e, id);
	assert_int_equal(qstore_msg_commit(m, &e, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "File too large"));
	qenv_free(&e);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");
	assert_string_equal(ls(sub, names, sizeof(names)), "");

	/* under 64 KiB: the failure comes at the commit's flush */
	id = qstore_new_id();
	assert_non_null(m = qstore_msg_begin(qs, id, why, sizeof(why)));
	for (i = 0; i < 60; i++)
		assert_int_equal(qstore_msg_write(m, piece, sizeof(piece),
		    why, sizeof(why)), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	fsize_limit(&old, 30000);
	sample(&e, id);
	assert_int_equal(qstore_msg_commit(m, &e, why, sizeof(why)), -1);
	qenv_free(&e);
	assert_non_null(strstr(why, "File too large"));
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");

	/*
	 * the message fits, its envelope (many recipients) does not: it is
	 * written to ID.msg after the message, and nothing reaches the queue
	 */
	id = qstore_new_id();
	assert_non_null(m = qstore_msg_begin(qs, id, why, sizeof(why)));
	assert_int_equal(qstore_msg_write(m, piece, 100, why, sizeof(why)),
	    0);
	sample(&e, id);
	for (i = 0; i < 2000; i++) {
		snprintf(addr, sizeof(addr), "recipient-%04d@example.net", i);
		assert_int_equal(qenv_add_rcpt(&e, addr, 0, NULL), 0);
	}
	assert_int_equal(qstore_msg_commit(m, &e, why, sizeof(why)), -1);
	assert_non_null(strstr(why, ".msg: write: File too large"));
	qenv_free(&e);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");
	assert_string_equal(ls(sub, names, sizeof(names)), "");

	/* a rewrite that fails keeps the old envelope */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	id = put_msg(qs, 100);
	fsize_limit(&old, 30000);
	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), 0);
	for (i = 0; i < 2000; i++) {
		snprintf(addr, sizeof(addr), "recipient-%04d@example.net", i);
		assert_int_equal(qenv_add_rcpt(&e, addr, 0, NULL), 0);
	}
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), -1);
	qenv_free(&e);
	assert_int_equal(qstore_env_load(qs, id, &e, why, sizeof(why)), 0);
	assert_int_equal(e.nrcpt, 2);
	qenv_free(&e);
	assert_string_equal(ls(sub, names, sizeof(names)), "");

	/* and the store still works */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	put_msg(qs, 200000);
	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 2);
	qstore_close(qs);
}

static void
test_format_fails(void **state)
{
	struct fix		*fx = *state;
	struct qstore		*qs;
	struct qstore_msg	*m;
	struct qenv		 e;
	char			 why[QSTORE_WHY_MAX], names[256], sub[128];
	char			 big[QENV_TEXT_MAX + 100];
	uint64_t		 id;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	id = qstore_new_id();
	assert_non_null(m = qstore_msg_begin(qs, id, why, sizeof(why)));
	assert_int_equal(qstore_msg_write(m, "x\r\n", 3, why, sizeof(why)), 0);
	sample(&e, id);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(qenv_set(&e.sender, big), 0);
	assert_int_equal(qstore_msg_commit(m, &e, why, sizeof(why)), -1);
	assert_non_null(strstr(why, ".msg: envelope: "));
	qenv_free(&e);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");
	snprintf(sub, sizeof(sub), "%s/incoming", fx->dir);
	assert_string_equal(ls(sub, names, sizeof(names)), "");
	qstore_close(qs);
}

static ino_t
ino_of(const struct fix *fx, uint64_t id, const char *ext)
{
	struct stat	st;
	char		path[160];

	snprintf(path, sizeof(path), "%s/%016llx%s", fx->dir,
	    (unsigned long long)id, ext);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/*
 * a removed message's files become spares, and the next message is
 * written over them (shorter: cut to length); a rewritten envelope
 * leaves its old file as a spare
 */
static void
test_spare_reuse(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	struct qenv	 e;
	char		 why[QSTORE_WHY_MAX], names[256], sub[128];
	uint64_t	 a, b;
	ino_t		 amsg, aenv;
	unsigned	 ready;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	snprintf(sub, sizeof(sub), "%s/spare", fx->dir);
	a = put_msg(qs, 5000);
	amsg = ino_of(fx, a, ".msg");
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 0);
	assert_int_equal(qstore_unsynced(qs), 0);
	assert_int_equal(qstore_remove(qs, a, why, sizeof(why)), 0);
	/* the removal waits for a directory fsync; so does its spare */
	assert_int_equal(qstore_unsynced(qs), 1);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	assert_int_equal(ready, 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_int_equal(qstore_unsynced(qs), 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 0);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	assert_int_equal(ready, 1);
	/* never rewritten: no ID.env, so no spare of one */
	assert_int_equal(qstore_spare_count(qs, 0, &ready), 0);
	assert_string_equal(ls(sub, names, sizeof(names)), "m0000000000000001");

	b = put_msg(qs, 1000);
	assert_int_equal(ino_of(fx, b, ".msg"), amsg);
	assert_string_equal(ls(sub, names, sizeof(names)), "");
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 0);
	check_msg(qs, b, 1000);		/* cut to its length */

	/* the first rewrite: no spare ready, a new file */
	assert_int_equal(qstore_env_load(qs, b, &e, why, sizeof(why)), 0);
	e.attempts = 1;
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
	(void)ino_of(fx, b, ".env");
	assert_int_equal(qstore_spare_count(qs, 0, &ready), 0);
	/* a rewritten message removed gives a spare of each kind */
	a = put_msg(qs, 10);
	assert_int_equal(qstore_env_load(qs, a, &e, why, sizeof(why)), 0);
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	qenv_free(&e);
	aenv = ino_of(fx, a, ".env");
	assert_int_equal(qstore_remove(qs, a, why, sizeof(why)), 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_int_equal(qstore_spare_count(qs, 0, &ready), 1);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	/* the next rewrite goes over it and swaps names with the old file */
	assert_int_equal(qstore_env_load(qs, b, &e, why, sizeof(why)), 0);
	e.attempts = 2;
	assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
	assert_int_equal(ino_of(fx, b, ".env"), aenv);
	/* the old envelope took the spare's place, reusable after the fsync */
	assert_int_equal(qstore_spare_count(qs, 0, &ready), 1);
	assert_int_equal(ready, 1);
	qenv_free(&e);
	assert_int_equal(qstore_env_load(qs, b, &e, why, sizeof(why)), 0);
	assert_int_equal(e.attempts, 2);
	assert_int_equal(e.size, 1000);
	qenv_free(&e);
	check_msg(qs, b, 1000);
	qstore_close(qs);
}

/*
 * one id written twice at once, once over a spare and once new in
 * incoming/ (O_EXCL cannot see the spare): the first commit wins, the
 * second is refused (EEXIST) and replaces nothing, of either file
 */
static void
test_same_id_commit(void **state)
{
	struct fix		*fx = *state;
	struct qstore		*qs;
	struct qstore_msg	*m1, *m2;
	struct qenv		 e, got;
	char			 why[QSTORE_WHY_MAX], names[256];
	char			 want[256];
	uint64_t		 a, id;
	ino_t			 ino;
	unsigned		 ready;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	a = put_msg(qs, 10);
	assert_int_equal(qstore_remove(qs, a, why, sizeof(why)), 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	assert_int_equal(ready, 1);

	assert_true((id = qstore_new_id()) != 0);
	assert_non_null(m1 = qstore_msg_begin(qs, id, why, sizeof(why)));
	assert_non_null(m2 = qstore_msg_begin(qs, id, why, sizeof(why)));
	assert_int_equal(qstore_msg_write(m1, "aaaa", 4, why, sizeof(why)),
	    0);
	assert_int_equal(qstore_msg_write(m2, "bbbbbbbb", 8, why,
	    sizeof(why)), 0);
	sample(&e, id);
	if (qstore_msg_commit(m1, &e, why, sizeof(why)) != 0)
		fail_msg("commit: %s", why);
	ino = ino_of(fx, id, ".msg");
	assert_int_equal(qstore_msg_commit(m2, &e, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "File exists"));
	qenv_free(&e);

	/* the first message whole; the second's file gone from incoming/ */
	assert_int_equal(ino_of(fx, id, ".msg"), ino);
	check_msg(qs, id, 4);
	assert_int_equal(qstore_env_load(qs, id, &got, why, sizeof(why)), 0);
	assert_int_equal(got.size, 4);
	qenv_free(&got);
	snprintf(want, sizeof(want), "%016llx.msg incoming spare",
	    (unsigned long long)id);
	assert_string_equal(ls(fx->dir, names, sizeof(names)), want);
	snprintf(want, sizeof(want), "%s/incoming", fx->dir);
	assert_string_equal(ls(want, names, sizeof(names)), "");
	qstore_close(qs);
}

/*
 * the rule: a spare is handed out only after a directory fsync that
 * began after it was put; one that began before does not count
 */
static void
test_spare_rule(void **state)
{
	struct qspare	*sp;
	uint64_t	 seq, t1, t2;
	unsigned	 ready;

	(void)state;
	assert_non_null(sp = qspare_new(2));
	t1 = qspare_sync_begin(sp);		/* began before the put */
	assert_true((seq = qspare_seq(sp, QSPARE_MSG)) != 0);
	assert_int_equal(qspare_put(sp, QSPARE_MSG, seq), 0);
	assert_int_equal(qspare_take(sp, QSPARE_MSG, &seq), -1);
	qspare_sync_end(sp, t1);
	assert_int_equal(qspare_count(sp, QSPARE_MSG, &ready), 1);
	assert_int_equal(ready, 0);
	assert_int_equal(qspare_take(sp, QSPARE_MSG, &seq), -1);
	t2 = qspare_sync_begin(sp);		/* after: it covers the put */
	assert_int_equal(qspare_take(sp, QSPARE_MSG, &seq), -1);
	qspare_sync_end(sp, t2);
	assert_int_equal(qspare_take(sp, QSPARE_ENV, &seq), -1);
	assert_int_equal(qspare_take(sp, QSPARE_MSG, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(qspare_take(sp, QSPARE_MSG, &seq), -1);

	/* bounded; fsyncs ending out of order: the later one counts */
	assert_int_equal(qspare_put(sp, QSPARE_ENV, 7), 0);
	assert_int_equal(qspare_put(sp, QSPARE_ENV, 8), 0);
	assert_int_equal(qspare_seq(sp, QSPARE_ENV), 0);
	assert_int_equal(qspare_put(sp, QSPARE_ENV, 9), -1);
	t1 = qspare_sync_begin(sp);
	t2 = qspare_sync_begin(sp);
	qspare_sync_end(sp, t2);
	qspare_sync_end(sp, t1);
	assert_int_equal(qspare_take(sp, QSPARE_ENV, &seq), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(qspare_take(sp, QSPARE_ENV, &seq), 0);
	assert_int_equal(seq, 8);

	/* a removal: covered by an fsync that began after it, not before */
	assert_int_equal(qspare_unsynced(sp), 0);
	t1 = qspare_sync_begin(sp);
	qspare_dirty(sp);
	qspare_sync_end(sp, t1);
	assert_int_equal(qspare_unsynced(sp), 1);
	t2 = qspare_sync_begin(sp);
	assert_int_equal(qspare_unsynced(sp), 1);
	qspare_sync_end(sp, t2);
	assert_int_equal(qspare_unsynced(sp), 0);
	qspare_free(sp);
}

/*
 * a commit's directory fsync makes the removals before it durable too:
 * no qstore_sync needed after it, and their spares are ready
 */
static void
test_removal_covered_by_commit(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	char		 why[QSTORE_WHY_MAX];
	uint64_t	 a, b;
	unsigned	 ready;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	a = put_msg(qs, 100);
	assert_int_equal(qstore_remove(qs, a, why, sizeof(why)), 0);
	assert_int_equal(qstore_unsynced(qs), 1);
	b = put_msg(qs, 100);		/* no spare ready: a new file */
	assert_int_equal(qstore_unsynced(qs), 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 0);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	assert_int_equal(ready, 1);
	check_msg(qs, b, 100);
	qstore_close(qs);
}

/* at most qstore_spares() of each kind, and no large message kept */
static void
test_spare_bound(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	char		 why[QSTORE_WHY_MAX], names[256], sub[128];
	struct qenv	 e;
	uint64_t	 id[4], big;
	unsigned	 ready, i;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	qstore_spares(qs, 2);
	snprintf(sub, sizeof(sub), "%s/spare", fx->dir);
	big = put_msg(qs, 300000);
	assert_int_equal(qstore_remove(qs, big, why, sizeof(why)), 0);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 0);
	for (i = 0; i < 4; i++) {
		id[i] = put_msg(qs, 100);
		/* rewritten once: an ID.env to remove as well */
		assert_int_equal(qstore_env_load(qs, id[i], &e, why,
		    sizeof(why)), 0);
		assert_int_equal(qstore_env_save(qs, &e, why, sizeof(why)), 0);
		qenv_free(&e);
	}
	assert_int_equal(qstore_spare_count(qs, 0, &ready), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(qstore_remove(qs, id[i], why, sizeof(why)),
		    0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 2);
	assert_int_equal(qstore_spare_count(qs, 0, &ready), 2);
	assert_int_equal(ready, 2);
	/*
	 * the rest (the big one, two ID.msg, two ID.env) put aside as
	 * trash, not unlinked on the way: qstore_trim unlinks them
	 */
	assert_int_equal(qstore_trash(qs), 5);
	ls(sub, names, sizeof(names));
	assert_int_equal(strlen(names), 9 * 17 + 8);
	assert_int_equal(count_prefix(names, 't'), 5);
	assert_int_equal(qstore_trim(qs, 2, why, sizeof(why)), 2);
	assert_int_equal(qstore_trash(qs), 3);
	assert_int_equal(qstore_trim(qs, 100, why, sizeof(why)), 3);
	assert_int_equal(qstore_trim(qs, 100, why, sizeof(why)), 0);
	assert_int_equal(qstore_trash(qs), 0);
	ls(sub, names, sizeof(names));
	assert_int_equal(strlen(names), 4 * 17 + 3);
	assert_int_equal(count_prefix(names, 't'), 0);
	assert_string_equal(ls(fx->dir, names, sizeof(names)),
	    "incoming spare");

	/* trash not trimmed before a stop goes at the next start */
	id[0] = put_msg(qs, 300000);
	assert_int_equal(qstore_remove(qs, id[0], why, sizeof(why)), 0);
	assert_int_equal(qstore_trash(qs), 1);
	qstore_close(qs);
	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_int_equal(qstore_trash(qs), 0);
	assert_string_equal(ls(sub, names, sizeof(names)), "");
	qstore_close(qs);
}

/*
 * a queued message of 40 MiB (sparse: only its size counts) removed;
 * it leaves DIR either way, into the trash or unlinked
 */
static void
remove_sparse(struct fix *fx, struct qstore *qs)
{
	char		 why[QSTORE_WHY_MAX], path[256];
	uint64_t	 id;

	id = put_msg(qs, 100);
	snprintf(path, sizeof(path), "%s/%016" PRIx64 ".msg", fx->dir, id);
	assert_int_equal(truncate(path, 40ll * 1024 * 1024), 0);
	assert_int_equal(qstore_remove(qs, id, why, sizeof(why)), 0);
	assert_int_equal(access(path, F_OK), -1);
}

/* the trash is bounded in octets, and a failed rename gives its room back */
static void
test_trash_bytes(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	char		 why[QSTORE_WHY_MAX], names[256], sub[128];
	unsigned	 i;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	snprintf(sub, sizeof(sub), "%s/spare", fx->dir);
	/*
	 * two of 40 MiB fit in 100 MiB, a third is unlinked where it is
	 * removed; after a trim there is room again
	 */
	qstore_trash_limit(qs, 100ull * 1024 * 1024);
	for (i = 0; i < 4; i++) {
		if (i == 3)
			assert_int_equal(qstore_trim(qs, 100, why,
			    sizeof(why)), 2);
		remove_sparse(fx, qs);
		assert_int_equal(qstore_trash(qs), i == 2 ? 2 : i == 3 ? 1 :
		    i + 1);
		ls(sub, names, sizeof(names));
		assert_int_equal(count_prefix(names, 't'),
		    (int)qstore_trash(qs));
	}
	assert_int_equal(qstore_trim(qs, 100, why, sizeof(why)), 1);
	ls(sub, names, sizeof(names));
	assert_int_equal(count_prefix(names, 't'), 0);

	/*
	 * a rename into the trash that fails: the file is unlinked in
	 * place and its room given back, so two more still fit
	 */
	for (i = 0; i < 3; i++) {
		fail_trash_rename = i == 0;
		remove_sparse(fx, qs);
		assert_int_equal(qstore_trash(qs), i);
	}
	assert_int_equal(fail_trash_rename, 0);
	assert_int_equal(qstore_trim(qs, 100, why, sizeof(why)), 2);
	qstore_close(qs);
}

/*
 * at start, spare/ is emptied (a spare of the last run may not be out
 * of DIR for good), the queue left as it was, and spares come again
 */
static void
test_spare_recover(void **state)
{
	struct fix	*fx = *state;
	struct qstore	*qs;
	struct seen	 s = { 0 };
	char		 why[QSTORE_WHY_MAX], names[256], sub[128];
	uint64_t	 a, b;
	unsigned	 removed = 99, ready;

	assert_non_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	a = put_msg(qs, 200);
	b = put_msg(qs, 300);
	assert_int_equal(qstore_remove(qs, a, why, sizeof(why)), 0);
	qstore_close(qs);
	snprintf(sub, sizeof(sub), "%s/spare", fx->dir);
	assert_string_equal(ls(sub, names, sizeof(names)),
	    "m0000000000000001");
	put_file(sub, "m00000000000000ff", "a leftover");

	assert_non_null(qs = qstore_open(fx->dir, &removed, why,
	    sizeof(why)));
	assert_int_equal(removed, 0);
	assert_string_equal(ls(sub, names, sizeof(names)), "");
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 0);
	assert_int_equal(qstore_scan(qs, seen_fn, seen_bad, &s, why,
	    sizeof(why)), 1);
	assert_int_equal(s.ids[0], b);
	check_msg(qs, b, 300);
	assert_int_equal(qstore_remove(qs, b, why, sizeof(why)), 0);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	assert_int_equal(ready, 0);
	assert_int_equal(qstore_sync(qs, why, sizeof(why)), 1);
	assert_int_equal(qstore_spare_count(qs, 1, &ready), 1);
	assert_int_equal(ready, 1);
	qstore_close(qs);

	/* spare/ open to others is refused, as incoming/ */
	assert_int_equal(chmod(sub, 0755), 0);
	assert_null(qs = qstore_open(fx->dir, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "spare: mode 0755"));
	assert_int_equal(qstore_check(fx->dir, geteuid(), why, sizeof(why)),
	    -1);
	assert_int_equal(chmod(sub, 0700), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort_and_ids, setup,
		    teardown),
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test_setup_teardown(test_recovery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_remove_cut_short, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_after_fsync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_permissions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_format_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_removal_covered_by_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spare_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_same_id_commit, setup,
		    teardown),
		cmocka_unit_test(test_spare_rule),
		cmocka_unit_test_setup_teardown(test_trash_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spare_bound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spare_recover, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
