/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the reexec state reader: the checking stage of
 * handoff.c (handoff_check_buffer), which must turn any bytes into an
 * answer (taken, or refused with a reason) without crashing, hanging,
 * reading past them or leaking. It is built with every daemon source,
 * procd's main renamed (-Dmain=procd_main) so that libFuzzer's main is
 * the program's. Both formats are read: procd-handoff-2 (a stream of
 * values after its first line) and procd-handoff-1 (a JSON document).
 *
 * The check is not live here: it does not look at the fds the state
 * names, nor at the pid, as procd --handoff-check does not.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "procd.h"

#define FUZZ_CHECK(e)	do {						\
	if (!(e))							\
		abort();						\
} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The check of exactly size bytes, in a buffer of their own (ASan sees
 * a read past them). */
static int
fuzz_check(const uint8_t *data, size_t size, char *why, size_t len)
{
	char	*copy;
	int	 rc;

	copy = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	rc = handoff_check_buffer(copy, size, why, len);
	free(copy);
	FUZZ_CHECK(rc == 0 || rc == -1);
	return (rc);
}

/*
 * A format 2 state taken: it ends where its last value does. Cut
 * anywhere, it is refused, and so it is with a byte more.
 */
static void
fuzz_format2(const uint8_t *data, size_t size)
{
	char	 why[512];
	uint8_t	*more;
	size_t	 cut;

	FUZZ_CHECK(fuzz_check(data, size - 1, why, sizeof why) == -1);
	cut = strlen(HANDOFF_FORMAT_2) + 1 + data[size - 1] % (size -
	    strlen(HANDOFF_FORMAT_2) - 1);
	FUZZ_CHECK(fuzz_check(data, cut, why, sizeof why) == -1);
	more = malloc(size + 1);
	FUZZ_CHECK(more != NULL);
	memcpy(more, data, size);
	more[size] = 0;
	FUZZ_CHECK(fuzz_check(more, size + 1, why, sizeof why) == -1);
	free(more);
}

/*
 * A format 1 state taken: the same document as the saver wrote it
 * (compact, keys in their order) is taken too. The check must not
 * depend on spacing, escapes or number spelling.
 */
static void
fuzz_format1(const uint8_t *data, size_t size)
{
	json_t	*doc;
	char	 why[512], *text;

	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);
	FUZZ_CHECK(doc != NULL);
	text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(handoff_check_buffer(text, strlen(text), why,
	    sizeof why) == 0);
	free(text);
	json_decref(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 n = strlen(HANDOFF_FORMAT_2);
	char	 why[512];
	int	 rc;

	memset(why, 0x55, sizeof why);
	rc = fuzz_check(data, size, why, sizeof why);
	if (rc == -1) {
		/* A refusal always says why, as one terminated string. */
		FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
		FUZZ_CHECK(why[0] != '\0');
		return (0);
	}
	if (size > n && memcmp(data, HANDOFF_FORMAT_2 "\n", n + 1) == 0)
		fuzz_format2(data, size);
	else
		fuzz_format1(data, size);
	return (0);
}
