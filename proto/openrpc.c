/* SPDX-License-Identifier: ISC */
/*
 * The OpenRPC document rpc.discover answers with, built from the table of
 * methods (methods.c): each method's params with their types and
 * summaries, and its result. The job object and the other results are
 * described once, as components the methods refer to.
 */

#include "config.h"

#include <stdio.h>

#include "proto.h"

#define OPENRPC_VERSION	"1.2.6"

static json_t *
openrpc_ref(const char *name)
{
	char	ref[64];

	snprintf(ref, sizeof ref, "#/components/schemas/%s", name);
	return (json_pack("{s:s}", "$ref", ref));
}

/* The JSON Schema of a param of type t. */
static json_t *
openrpc_param_schema(enum proto_ptype t)
{
	switch (t) {
	case PROTO_P_JOB:
		return (openrpc_ref("JobRef"));
	case PROTO_P_BOOL:
		return (json_pack("{s:s}", "type", "boolean"));
	case PROTO_P_SECONDS:
		return (json_pack("{s:s,s:i,s:f}", "type", "number",
		    "minimum", 0, "maximum", PROTO_MAX_SECONDS));
	case PROTO_P_ARGV:
		return (json_pack("{s:s,s:i,s:{s:s}}", "type", "array",
		    "minItems", 1, "items", "type", "string"));
	case PROTO_P_ENV:
		return (json_pack("{s:s,s:{s:[s,s]}}", "type", "object",
		    "additionalProperties", "type", "string", "null"));
	case PROTO_P_PATH:
		return (json_pack("{s:s,s:s}", "type", "string",
		    "pattern", "^/"));
	case PROTO_P_NAME:
		return (json_pack("{s:s,s:s}", "type", "string", "pattern",
		    "^[A-Za-z0-9._@:-]{1,64}$"));
	case PROTO_P_STATES:
		return (json_pack("{s:[o,{s:s,s:o}]}", "oneOf",
		    openrpc_ref("State"), "type", "array", "items",
		    openrpc_ref("State")));
	case PROTO_P_SIGNAL:
		return (json_pack("{s:[{s:s,s:i,s:i},{s:s}]}", "oneOf",
		    "type", "integer", "minimum", 1, "maximum", 64,
		    "type", "string"));
	case PROTO_P_UINT:
		return (json_pack("{s:s,s:i}", "type", "integer",
		    "minimum", 0));
	case PROTO_P_LOG_LIMIT:
		return (json_pack("{s:s,s:i,s:I}", "type", "integer",
		    "minimum", 0, "maximum", (json_int_t)PROTO_MAX_LOG_LIMIT));
	case PROTO_P_ACCOUNT:
		return (json_pack("{s:[{s:s,s:i},{s:s}]}", "oneOf",
		    "type", "integer", "minimum", 0, "type", "string"));
	case PROTO_P_JOBS:
		return (json_pack("{s:s,s:o}", "type", "array", "items",
		    openrpc_ref("JobRef")));
	case PROTO_P_STRING:
	case PROTO_P_ANY:
		break;
	}
	return (json_pack("{s:s}", "type", "string"));
}

/* The result of a method, as an OpenRPC content descriptor. */
static json_t *
openrpc_result(enum proto_result r)
{
	const char	*name = "job";
	json_t		*schema;

	switch (r) {
	case PROTO_R_JOB:
		schema = openrpc_ref("Job");
		break;
	case PROTO_R_JOBS:
		name = "jobs";
		schema = json_pack("{s:s,s:o}", "type", "array", "items",
		    openrpc_ref("Job"));
		break;
	case PROTO_R_INFO:
		name = "info";
		schema = openrpc_ref("Info");
		break;
	case PROTO_R_LOGS:
		name = "logs";
		schema = openrpc_ref("Logs");
		break;
	case PROTO_R_SUBSCRIBE:
		name = "subscription";
		schema = json_pack("{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}",
		    "type", "object", "required", "subscription", "seq",
		    "properties", "subscription", "type", "integer",
		    "seq", "type", "integer");
		break;
	case PROTO_R_TRUE:
		name = "done";
		schema = json_pack("{s:b}", "const", 1);
		break;
	case PROTO_R_REEXEC:
		name = "image";
		schema = json_pack("{s:s,s:[s,s,s],s:{s:{s:s},s:{s:s},"
		    "s:{s:s}}}", "type", "object", "required", "version",
		    "previous_version", "pid", "properties", "version", "type",
		    "string", "previous_version", "type", "string", "pid",
		    "type", "integer");
		break;
	case PROTO_R_OPENRPC:
	default:
		name = "openrpc";
		schema = json_pack("{s:s}", "type", "object");
		break;
	}
	return (json_pack("{s:s,s:o}", "name", name, "schema", schema));
}

/*
 * A param's schema: its type's, narrowed to its words if it has some;
 * an optional param may be null, which means the same as leaving it out.
 */
static json_t *
openrpc_param(const struct proto_param *p)
{
	const char *const	*w;
	json_t			*schema, *words;

	schema = openrpc_param_schema(p->type);
	if (p->words != NULL) {
		words = json_array();
		for (w = p->words; *w != NULL; w++)
			json_array_append_new(words, json_string(*w));
		json_object_set_new(schema, "enum", words);
	}
	if (!p->required)
		schema = json_pack("{s:[o,{s:s}]}", "oneOf", schema,
		    "type", "null");
	return (json_pack("{s:s,s:s,s:b,s:o}", "name", p->name, "summary",
	    p->summary, "required", p->required, "schema", schema));
}

static json_t *
openrpc_method(const struct proto_method *m)
{
	const struct proto_param	*p;
	json_t				*params;

	params = json_array();
	for (p = m->params; p->name != NULL; p++)
		json_array_append_new(params, openrpc_param(p));
	return (json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", m->name,
	    "summary", m->summary, "paramStructure", "by-name",
	    "params", params, "result", openrpc_result(m->result)));
}

/*
 * The job object of protocol sections 3 and 8-12: each field with its
 * JSON type; "[]T" is an array of T, a type in capitals a component.
 */
static const struct {
	const char	*name;
	const char	*type;
	int		 nullable;
} openrpc_job_fields[] = {
	{ "id", "integer", 0 },		{ "name", "string", 0 },
	{ "argv", "[]string", 0 },	{ "cwd", "string", 0 },
	{ "pid", "integer", 0 },	{ "ppid", "integer", 0 },
	{ "parent", "integer", 1 },	{ "children", "[]integer", 0 },
	{ "daemon", "boolean", 0 },	{ "state", "State", 0 },
	{ "exitcode", "integer", 1 },	{ "uid", "integer", 0 },
	{ "gid", "integer", 0 },	{ "user", "string", 1 },
	{ "started_at", "string", 0 },	{ "exited_at", "string", 1 },
	{ "usage", "object", 1 },	{ "restart", "string", 0 },
	{ "restarts", "integer", 0 },	{ "restart_at", "string", 1 },
	{ "error", "string", 1 },	{ "ready", "boolean", 1 },
	{ "status_text", "string", 1 },	{ "kill_mode", "string", 0 },
	{ "timed_out", "boolean", 0 },	/* join, when its timeout passed */
};

static json_t *
openrpc_field_schema(const char *type, int nullable)
{
	if (type[0] == '[')
		return (json_pack("{s:s,s:{s:s}}", "type", "array", "items",
		    "type", type + 2));
	if (type[0] >= 'A' && type[0] <= 'Z')
		return (openrpc_ref(type));
	if (nullable)
		return (json_pack("{s:[s,s]}", "type", type, "null"));
	return (json_pack("{s:s}", "type", type));
}

static json_t *
openrpc_job_schema(void)
{
	json_t	*props;
	size_t	 i;

	props = json_object();
	for (i = 0; i < sizeof openrpc_job_fields /
	    sizeof openrpc_job_fields[0]; i++)
		json_object_set_new(props, openrpc_job_fields[i].name,
		    openrpc_field_schema(openrpc_job_fields[i].type,
		    openrpc_job_fields[i].nullable));
	return (json_pack("{s:s,s:[s,s,s,s,s],s:o}", "type", "object",
	    "required", "id", "name", "argv", "pid", "state",
	    "properties", props));
}

static json_t *
openrpc_components(void)
{
	return (json_pack("{s:{s:o,s:o,s:o,s:o,s:o}}", "schemas",
	    "Job", openrpc_job_schema(),
	    "JobRef", json_pack("{s:s,s:[{s:s,s:i},{s:s}]}", "summary",
	    "a job's integer id or its name", "oneOf", "type", "integer",
	    "minimum", 1, "type", "string"),
	    "State", json_pack("{s:s,s:[s,s,s,s,s]}", "type", "string",
	    "enum", "running", "stopping", "restarting", "waiting",
	    "exited"),
	    "Info", json_pack("{s:s,s:[s,s,s,s,s,s]}", "type", "object",
	    "required", "version", "pid", "uid", "started_at", "socket",
	    "jobs"),
	    "Logs", json_pack("{s:s,s:{s:{s:s},s:{s:s},s:o}}", "type",
	    "object", "properties", "records", "type", "array",
	    "truncated", "type", "boolean", "job", openrpc_ref("Job"))));
}

/* The whole document; version is procd's. */
json_t *
proto_openrpc(const char *version)
{
	const struct proto_method *const	*m;
	json_t					*methods;

	methods = json_array();
	for (m = proto_methods; *m != NULL; m++)
		json_array_append_new(methods, openrpc_method(*m));
	return (json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:o}",
	    "openrpc", OPENRPC_VERSION,
	    "info", "title", "procd", "version", version,
	    "description", "procd's control protocol: JSON-RPC 2.0, one "
	    "message per line, over a Unix socket",
	    "methods", methods, "components", openrpc_components()));
}
