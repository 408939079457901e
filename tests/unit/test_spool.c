/*
 * test_spool.c - the message spool: memory, spill to disk, bounds, reread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/spool.h"

static void
fill(char *p, size_t n, unsigned seed)
{
	size_t	i;

	for (i = 0; i < n; i++)
		p[i] = (char)((i * 31 + seed) & 0xff);
}

/* write in uneven pieces, read back in other pieces, compare */
static void
roundtrip(size_t thresh, size_t total, int want_disk)
{
	struct spool	*sp;
	char		*in, *out;
	size_t		 off = 0, n, step = 1;
	ssize_t		 r;
	int		 pass;

	in = malloc(total + 1);
	out = malloc(total + 1);
	assert_non_null(in);
	assert_non_null(out);
	fill(in, total, 7);
	sp = spool_new(thresh, total, NULL);
	assert_non_null(sp);
	while (off < total) {
		n = step < total - off ? step : total - off;
		assert_int_equal(spool_write(sp, in + off, n), 0);
		off += n;
		step = step * 3 + 1;
	}
	assert_int_equal(spool_size(sp), total);
	assert_int_equal(spool_on_disk(sp), want_disk);
	/* twice: a message may be read again (retry, later DKIM pass) */
	for (pass = 0; pass < 2; pass++) {
		assert_int_equal(spool_rewind(sp), 0);
		off = 0;
		while ((r = spool_read(sp, out + off, 4099)) > 0)
			off += (size_t)r;
		assert_int_equal(r, 0);
		assert_int_equal(off, total);
		assert_memory_equal(in, out, total);
	}
	spool_free(sp);
	free(in);
	free(out);
}

static void
test_memory_only(void **state)
{
	roundtrip(1 << 20, 100000, 0);
}

static void
test_spills_to_disk(void **state)
{
	roundtrip(4096, 3 * 1024 * 1024 + 17, 1);
}

static void
test_empty(void **state)
{
	struct spool	*sp = spool_new(1024, 1024, NULL);
	char		 c;

	assert_non_null(sp);
	assert_int_equal(spool_rewind(sp), 0);
	assert_int_equal(spool_read(sp, &c, 1), 0);
	spool_free(sp);
}

/* an empty write to a spool with no memory yet: nothing to copy (UBSan) */
static void
test_empty_write(void **state)
{
	struct spool	*sp = spool_new(1024, 1024, NULL);
	char		 c;

	assert_non_null(sp);
	assert_int_equal(spool_write(sp, "", 0), 0);
	assert_int_equal(spool_rewind(sp), 0);
	assert_int_equal(spool_read(sp, &c, 1), 0);
	spool_free(sp);
}

static void
test_bound_is_hard(void **state)
{
	struct spool	*sp = spool_new(16, 100, NULL);
	char		 buf[101];

	assert_non_null(sp);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(spool_write(sp, buf, 100), 0);
	/* one byte over the bound fails, and the failure is sticky */
	assert_int_equal(spool_write(sp, buf, 1), -1);
	assert_int_equal(spool_write(sp, buf, 0), -1);
	assert_int_equal(spool_read(sp, buf, 1), -1);
	spool_free(sp);
}

static void
test_bad_tmpdir(void **state)
{
	struct spool	*sp = spool_new(8, 1000, "/nonexistent/dir");
	char		 buf[64];

	assert_non_null(sp);
	memset(buf, 'y', sizeof(buf));
	assert_int_equal(spool_write(sp, buf, 8), 0);
	/* the spill fails: the write reports it instead of losing data */
	assert_int_equal(spool_write(sp, buf, 8), -1);
	spool_free(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_only),
		cmocka_unit_test(test_spills_to_disk),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_empty_write),
		cmocka_unit_test(test_bound_is_hard),
		cmocka_unit_test(test_bad_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
