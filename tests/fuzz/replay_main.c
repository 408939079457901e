/*
 * replay_main - a stand-in for libFuzzer's main() in the normal build: run
 * LLVMFuzzerTestOneInput() once on every file named on the command line,
 * and on every regular file in every directory named there (in name order,
 * so a failure is reproducible).  This is how ctest replays the seed
 * corpora (and any crash reproducer) without clang.
 *
 * Each input is copied into a buffer of exactly its size, so that a read
 * past the end shows up under -DGW_SANITIZE=ON as it would under
 * libFuzzer.  Exits 1 when a path cannot be read or a directory holds no
 * input: a corpus that silently vanished must not pass.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int	run_file(const char *);
static int	run_dir(const char *, size_t *);
static int	name_cmp(const void *, const void *);

/* run_file - one input, from a buffer of exactly its size */
static int
run_file(const char *path)
{
	FILE		*fp;
	uint8_t		*data, *copy;
	size_t		 len = 0, cap = 4096, n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((data = malloc(cap)) == NULL) {
		(void)fclose(fp);
		fprintf(stderr, "replay: out of memory\n");
		return -1;
	}
	while ((n = fread(data + len, 1, cap - len, fp)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t	*bigger;

			if ((bigger = realloc(data, cap * 2)) == NULL) {
				free(data);
				(void)fclose(fp);
				fprintf(stderr, "replay: out of memory\n");
				return -1;
			}
			data = bigger;
			cap *= 2;
		}
	}
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(data);
		(void)fclose(fp);
		return -1;
	}
	(void)fclose(fp);

	/* exactly len octets (malloc(0) may be NULL: give it one) */
	if ((copy = malloc(len > 0 ? len : 1)) == NULL) {
		free(data);
		fprintf(stderr, "replay: out of memory\n");
		return -1;
	}
	memcpy(copy, data, len);
	free(data);
	fprintf(stderr, "replay: %s (%zu octets)\n", path, len);
	(void)LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	return 0;
}

/* name_cmp - qsort order for file names */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* run_dir - every regular file in dir, in name order; *count of them */
static int
run_dir(const char *dir, size_t *count)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	char		**names = NULL, **more, path[4096];
	size_t		 n = 0, cap = 0, i;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			more = realloc(names, cap * sizeof(*names));
			if (more == NULL) {
				rc = -1;
				break;
			}
			names = more;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	(void)closedir(d);
	if (rc == -1)
		fprintf(stderr, "replay: out of memory\n");
	else if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);

	for (i = 0; i < n; i++) {
		if (rc == 0 && snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]) >= (int)sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: name too long\n", dir,
			    names[i]);
			rc = -1;
		}
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) == -1)
				rc = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* main - replay every FILE and every file in every DIR */
int
main(int argc, char **argv)
{
	struct stat	 st;
	size_t		 count, total = 0;
	int		 i, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			status = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) == -1)
				status = 1;
			else
				total++;
			continue;
		}
		count = 0;
		if (run_dir(argv[i], &count) == -1)
			status = 1;
		else if (count == 0) {
			fprintf(stderr, "replay: %s: no inputs\n", argv[i]);
			status = 1;
		}
		total += count;
	}
	fprintf(stderr, "replay: %zu inputs run%s\n", total,
	    status ? ", with errors" : "");
	return status;
}
