/* SPDX-License-Identifier: ISC */
/*
 * procctl methods: what procd serves, from its rpc.discover answer (an
 * OpenRPC document): each method with its summary and params. --json
 * prints the document itself.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_methods_exec(struct procctl *);

const struct procctl_command cmd_methods_entry = {
	"methods",
	"",
	"List the methods procd serves, with their params (rpc.discover;\n"
	"--json prints the OpenRPC document).\n",
	OPT_COMMON, "", 0, 0,
	cmd_methods_exec
};

/* A schema as a short type: "integer", "string|null", "[]JobRef". */
static void
cmd_methods_type(const json_t *schema, char *buf, size_t size)
{
	const json_t	*type, *ref, *one, *v;
	const char	*slash;
	char		 item[64];
	size_t		 i;

	*buf = '\0';
	type = json_object_get(schema, "type");
	ref = json_object_get(schema, "$ref");
	one = json_object_get(schema, "oneOf");
	if (json_is_string(ref)) {
		slash = strrchr(json_string_value(ref), '/');
		snprintf(buf, size, "%s", slash != NULL ? slash + 1 :
		    json_string_value(ref));
	} else if (json_is_array(one) || json_is_array(type)) {
		json_array_foreach(json_is_array(one) ? one : type, i, v) {
			if (json_is_string(v))
				snprintf(item, sizeof item, "%s",
				    json_string_value(v));
			else
				cmd_methods_type(v, item, sizeof item);
			if (i > 0)
				strncat(buf, "|", size - strlen(buf) - 1);
			strncat(buf, item, size - strlen(buf) - 1);
		}
	} else if (json_is_string(type) &&
	    strcmp(json_string_value(type), "array") == 0) {
		cmd_methods_type(json_object_get(schema, "items"), item,
		    sizeof item);
		snprintf(buf, size, "[]%s", item);
	} else if (json_is_string(type))
		snprintf(buf, size, "%s", json_string_value(type));
	else
		snprintf(buf, size, "any");
}

/*
 * An optional param's schema is "its own, or null" (null means left
 * out): its own is what people want to read.
 */
static const json_t *
cmd_methods_optional(const json_t *schema)
{
	const json_t	*one, *null;

	one = json_object_get(schema, "oneOf");
	if (json_array_size(one) != 2)
		return (schema);
	null = json_object_get(json_array_get(one, 1), "type");
	if (!json_is_string(null) ||
	    strcmp(json_string_value(null), "null") != 0)
		return (schema);
	return (json_array_get(one, 0));
}

static const char *
cmd_methods_text(const json_t *o, const char *key)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_string(v) ? json_string_value(v) : "");
}

static void
cmd_methods_print(const json_t *doc)
{
	const json_t	*methods, *m, *p, *result;
	char		 type[128];
	size_t		 i, j;

	methods = json_object_get(doc, "methods");
	json_array_foreach(methods, i, m) {
		result = json_object_get(m, "result");
		cmd_methods_type(json_object_get(result, "schema"), type,
		    sizeof type);
		printf("%s%s -> %s\n    %s\n", i > 0 ? "\n" : "",
		    cmd_methods_text(m, "name"), type,
		    cmd_methods_text(m, "summary"));
		json_array_foreach(json_object_get(m, "params"), j, p) {
			cmd_methods_type(cmd_methods_optional(
			    json_object_get(p, "schema")), type, sizeof type);
			printf("    %-18s %-18s %s%s\n",
			    cmd_methods_text(p, "name"), type,
			    json_is_true(json_object_get(p, "required")) ?
			    "(required) " : "", cmd_methods_text(p, "summary"));
		}
	}
}

static int
cmd_methods_exec(struct procctl *ctl)
{
	json_t	*doc;

	if ((doc = procctl_call(ctl, "rpc.discover", NULL)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (!json_is_array(json_object_get(doc, "methods"))) {
		json_decref(doc);
		cmd_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	return (cmd_print(ctl, doc, cmd_methods_print));
}
