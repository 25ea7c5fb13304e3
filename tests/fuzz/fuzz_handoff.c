/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the reexec state reader: the checking stage of
 * handoff.c (handoff_check_buffer), which must turn any bytes into an
 * answer (taken, or refused with a reason) without crashing, hanging or
 * leaking. It is built with every daemon source, procd's main renamed
 * (-Dmain=procd_main) so that libFuzzer's main is the program's.
 *
 * The check is not live here: it does not look at the fds the document
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*doc;
	char	 why[512], *text;
	int	 rc;

	memset(why, 0x55, sizeof why);
	rc = handoff_check_buffer((const char *)data, size, why, sizeof why);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		/* A refusal always says why, as one terminated string. */
		FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
		FUZZ_CHECK(why[0] != '\0');
		return (0);
	}
	/*
	 * Taken: the same document as the saver writes it (compact, keys in
	 * their order) is taken too. The check must not depend on spacing,
	 * escapes or number spelling.
	 */
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);
	FUZZ_CHECK(doc != NULL);
	text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(handoff_check_buffer(text, strlen(text), why,
	    sizeof why) == 0);
	free(text);
	json_decref(doc);
	return (0);
}
