/*
 * fuzz_qctl - the control socket's command parser (qctl_parse) on any
 * bytes.
 *
 * Input: one command line, without its LF (NULs and all: the server
 * hands the parser what it read).
 *
 * Invariants: a refused line says why and leaves the request zeroed; an
 * accepted one is shorter than QCTL_LINE_MAX, names a known command, has
 * an id exactly when the command takes one (flush: maybe), and the line
 * written back canonically ("name" or "name ID") parses to the same
 * request.
 */
#include <stdio.h>
#include <string.h>

#include "queue/qctl.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qctl_req	 req, again;
	const char	*e, *name;
	char		 line[QCTL_LINE_MAX];
	int		 n;

	if ((e = qctl_parse((const char *)data, size, &req)) != NULL) {
		FUZZ_CHECK(e[0] != '\0', "refused without a reason");
		FUZZ_CHECK(req.cmd == 0 && req.id == 0, "refused, cmd %d set",
		    req.cmd);
		return 0;
	}
	FUZZ_CHECK(size < QCTL_LINE_MAX, "accepted %zu octets", size);
	FUZZ_CHECK(req.cmd >= QCTL_LIST && req.cmd <= QCTL_RELEASE,
	    "cmd %d", req.cmd);
	name = qctl_cmd_name(req.cmd);
	FUZZ_CHECK(strcmp(name, "unknown") != 0, "cmd %d has no name",
	    req.cmd);
	FUZZ_CHECK((req.id == 0) == (req.cmd == QCTL_LIST ||
	    (req.cmd == QCTL_FLUSH && req.id == 0)), "%s with id %llx", name,
	    (unsigned long long)req.id);
	/* the command word is in the input */
	FUZZ_CHECK(memmem(data, size, name, strlen(name)) != NULL,
	    "%s not in the line", name);
	if (req.id == 0)
		n = snprintf(line, sizeof(line), "%s", name);
	else
		n = snprintf(line, sizeof(line), "%s %016llx", name,
		    (unsigned long long)req.id);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(line), "canonical line");
	FUZZ_CHECK(qctl_parse(line, (size_t)n, &again) == NULL,
	    "canonical \"%s\" refused", line);
	FUZZ_CHECK(again.cmd == req.cmd && again.id == req.id,
	    "\"%s\" parses differently", line);
	return 0;
}
