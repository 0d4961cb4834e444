// SPDX-License-Identifier: Apache-2.0
/*
 * JSON -> struct shunt_config, with strict validation: unknown keys, wrong
 * types, bad values and duplicates are each reported once with their JSON
 * path (positions are resolved afterwards by jpos.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* ---------- generic typed accessors ---------- */

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static bool expect_type(struct vctx *v, const json_t *j, json_type t, const char *what)
{
	if (json_typeof(j) == t)
		return true;
	verr(v, "expected %s, got %s", what, json_kind(j));
	return false;
}

static bool key_known(const char *k, const char *const *known)
{
	for (size_t i = 0; known[i]; i++)
		if (strcmp(k, known[i]) == 0)
			return true;
	return false;
}

/* Reports every key of obj not in known[] (with a suggestion when one is close). */
static void check_keys(struct vctx *v, json_t *obj, const char *const *known)
{
	const char *k;
	json_t *val;

	json_object_foreach (obj, k, val) {
		size_t old;
		const char *near;

		if (key_known(k, known))
			continue;
		old = vctx_push_key(v, k);
		near = closest_key(k, known);
		if (near) {
			verr_key(v, "unknown key '%s'; did you mean '%s'?", k, near);
		} else {
			char list[256] = "";
			size_t n = 0;

			for (size_t i = 0; known[i] && n < sizeof(list); i++)
				n += (size_t)snprintf(list + n, sizeof(list) - n, "%s'%s'",
						      i ? ", " : "", known[i]);
			verr_key(v, "unknown key '%s'; expected one of %s", k, list);
		}
		vctx_pop(v, old);
	}
}

/* Returns a malloc'ed copy of the string member, def (copied) when absent,
 * NULL on error or absent without default. *present tells which. */
static char *get_string(struct vctx *v, json_t *obj, const char *key, bool required,
			const char *def)
{
	json_t *j = json_object_get(obj, key);
	char *s = NULL;
	size_t old;

	if (!j) {
		if (required)
			verr(v, "missing required key '%s'", key);
		return def ? xstrdup(def) : NULL;
	}
	old = vctx_push_key(v, key);
	if (expect_type(v, j, JSON_STRING, "a string")) {
		if (json_string_length(j) == 0)
			verr(v, "must not be empty");
		else if (strlen(json_string_value(j)) != json_string_length(j))
			verr(v, "must not contain NUL characters");
		else if (!(s = xstrdup(json_string_value(j))))
			v->oom = true;
	}
	vctx_pop(v, old);
	return s;
}

static bool get_bool(struct vctx *v, json_t *obj, const char *key, bool def)
{
	json_t *j = json_object_get(obj, key);
	size_t old;
	bool r = def;

	if (!j)
		return def;
	old = vctx_push_key(v, key);
	if (json_is_boolean(j))
		r = json_is_true(j);
	else
		verr(v, "expected true or false, got %s", json_kind(j));
	vctx_pop(v, old);
	return r;
}

static uint64_t get_uint(struct vctx *v, json_t *obj, const char *key, uint64_t min, uint64_t max,
			 uint64_t def)
{
	json_t *j = json_object_get(obj, key);
	size_t old;
	uint64_t r = def;

	if (!j)
		return def;
	old = vctx_push_key(v, key);
	if (!json_is_integer(j))
		verr(v, "expected an integer in %llu..%llu, got %s", (unsigned long long)min,
		     (unsigned long long)max, json_kind(j));
	else if (json_integer_value(j) < 0 || (uint64_t)json_integer_value(j) < min ||
		 (uint64_t)json_integer_value(j) > max)
		verr(v, "%lld is out of range; expected %llu..%llu",
		     (long long)json_integer_value(j), (unsigned long long)min,
		     (unsigned long long)max);
	else
		r = (uint64_t)json_integer_value(j);
	vctx_pop(v, old);
	return r;
}

typedef bool (*str_check_fn)(struct vctx *v, const char *s);

/* List of non-empty strings; each checked with fn (which reports at the
 * element's path). An empty list is an error (omit the key instead). */
/*
 * Opens the list field `key` of obj: it must be a non-empty array (an empty
 * list is an error: omit the key instead); *arr gets room for all its
 * elements. Returns the array with `key` pushed on the JSON path (the caller
 * pops *old when done), or NULL when the key is absent or the list invalid
 * (path already popped).
 */
static json_t *list_open(struct vctx *v, json_t *obj, const char *key, const char *what,
			 size_t elem_size, void **arr, size_t *old)
{
	json_t *j = json_object_get(obj, key);

	if (!j)
		return NULL;
	*old = vctx_push_key(v, key);
	if (!expect_type(v, j, JSON_ARRAY, what))
		goto fail;
	if (json_array_size(j) == 0) {
		verr(v, "empty list; omit '%s' or give at least one value", key);
		goto fail;
	}
	*arr = calloc(json_array_size(j), elem_size);
	if (!*arr) {
		v->oom = true;
		goto fail;
	}
	return j;
fail:
	vctx_pop(v, *old);
	return NULL;
}

static void get_strlist(struct vctx *v, json_t *obj, const char *key, struct shunt_strlist *out,
			str_check_fn fn)
{
	json_t *j, *e;
	size_t old, i;
	void *mem;

	j = list_open(v, obj, key, "an array of strings", sizeof(char *), &mem, &old);
	if (!j)
		return;
	out->v = mem;
	json_array_foreach (j, i, e) {
		size_t o2 = vctx_push_index(v, i);

		if (expect_type(v, e, JSON_STRING, "a string")) {
			const char *s = json_string_value(e);

			if (json_string_length(e) == 0)
				verr(v, "must not be empty");
			else if (strlen(s) != json_string_length(e))
				verr(v, "must not contain NUL characters");
			else if (!fn || fn(v, s))
				out->v[out->n++] = xstrdup(s);
		}
		vctx_pop(v, o2);
	}
	vctx_pop(v, old);
}

static void get_cidrlist(struct vctx *v, json_t *obj, const char *key, struct shunt_cidrlist *out)
{
	json_t *j, *e;
	size_t old, i;
	void *mem;

	j = list_open(v, obj, key, "an array of CIDR strings", sizeof(*out->v), &mem, &old);
	if (!j)
		return;
	out->v = mem;
	json_array_foreach (j, i, e) {
		size_t o2 = vctx_push_index(v, i);
		const char *why;

		if (expect_type(v, e, JSON_STRING, "a CIDR string such as \"10.0.0.0/8\"")) {
			if (cidr_parse(json_string_value(e), &out->v[out->n], &why) == 0)
				out->n++;
			else
				verr(v,
				     "bad CIDR '%s': %s; expected e.g. \"10.0.0.0/8\" or "
				     "\"fd00::/64\"",
				     json_string_value(e), why);
		}
		vctx_pop(v, o2);
	}
	vctx_pop(v, old);
}

/* Ports: strings ("80", as Istio writes them) or integers, 1..65535. */
static bool port_value(struct vctx *v, json_t *e, uint16_t *out)
{
	long long p = -1;

	if (json_is_integer(e)) {
		p = json_integer_value(e);
	} else if (json_is_string(e)) {
		const char *s = json_string_value(e);
		char *end;

		if (*s >= '0' && *s <= '9' && strlen(s) <= 6) {
			p = strtoll(s, &end, 10);
			if (*end)
				p = -2;
		} else {
			p = -2;
		}
		if (p == -2) {
			verr(v, "port '%s' is not a number; expected a port 1..65535", s);
			return false;
		}
	} else {
		verr(v, "expected a port (string or integer 1..65535), got %s", json_kind(e));
		return false;
	}
	if (p < 1 || p > 65535) {
		verr(v, "port %lld is out of range; expected 1..65535", p);
		return false;
	}
	*out = (uint16_t)p;
	return true;
}

static void get_portlist(struct vctx *v, json_t *obj, const char *key, struct shunt_portlist *out)
{
	json_t *j, *e;
	size_t old, i;
	void *mem;

	j = list_open(v, obj, key, "an array of ports", sizeof(*out->v), &mem, &old);
	if (!j)
		return;
	out->v = mem;
	json_array_foreach (j, i, e) {
		size_t o2 = vctx_push_index(v, i);

		if (port_value(v, e, &out->v[out->n]))
			out->n++;
		vctx_pop(v, o2);
	}
	vctx_pop(v, old);
}

static void get_labels(struct vctx *v, json_t *obj, const char *key, struct shunt_label **out,
		       size_t *n)
{
	json_t *j = json_object_get(obj, key), *e;
	const char *k;
	size_t old;

	if (!j)
		return;
	old = vctx_push_key(v, key);
	if (!expect_type(v, j, JSON_OBJECT, "an object of string labels"))
		goto out;
	*out = calloc(json_object_size(j) + 1, sizeof(**out));
	if (!*out) {
		v->oom = true;
		goto out;
	}
	json_object_foreach (j, k, e) {
		size_t o2 = vctx_push_key(v, k);

		if (!*k)
			verr_key(v, "label key must not be empty");
		else if (expect_type(v, e, JSON_STRING, "a string label value")) {
			(*out)[*n].key = xstrdup(k);
			(*out)[*n].value = xstrdup(json_string_value(e));
			(*n)++;
		}
		vctx_pop(v, o2);
	}
out:
	vctx_pop(v, old);
}

static void labels_free(struct shunt_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

/* ---------- value checks ---------- */

bool check_k8s_name(struct vctx *v, const char *s)
{
	size_t n = strlen(s);

	if (n > 253) {
		verr(v, "name longer than 253 characters");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
			verr(v,
			     "'%s' is not a valid name; expected lower-case letters, digits, '-' "
			     "and '.'",
			     s);
			return false;
		}
	}
	return true;
}

/* "*", "prefix*", "*suffix" or exact: '*' elsewhere is an error. */
static bool check_istio_pattern(struct vctx *v, const char *s)
{
	size_t n = strlen(s);
	const char *star = strchr(s, '*');

	if (!star || n == 1)
		return true;
	if ((star == s && !strchr(s + 1, '*')) || (star == s + n - 1))
		return true;
	verr(v, "'%s': '*' is only allowed alone, at the start or at the end", s);
	return false;
}

static bool check_principal(struct vctx *v, const char *s)
{
	if (!strncmp(s, "spiffe://", 9)) {
		verr(v,
		     "'%s': principals are written without 'spiffe://' (e.g. "
		     "\"cluster.local/ns/default/sa/app\")",
		     s);
		return false;
	}
	return check_istio_pattern(v, s);
}

static bool check_method(struct vctx *v, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p >= 'a' && *p <= 'z') {
			verr(v,
			     "method '%s' is not upper-case; methods match exactly and "
			     "case-sensitively (e.g. \"GET\")",
			     s);
			return false;
		}
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *p))) {
			verr(v,
			     "method '%s' contains '%c'; expected an HTTP method token such as "
			     "\"GET\"",
			     s, *p);
			return false;
		}
	}
	return true;
}

static bool check_path(struct vctx *v, const char *s)
{
	const char *why;

	if (pathpat_validate(s, &why) == 0)
		return true;
	verr(v, "bad path pattern '%s': %s", s, why);
	return false;
}

static bool check_host(struct vctx *v, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == 0x7f) {
			verr(v,
			     "host '%s' contains an invalid character; expected e.g. "
			     "\"api.example.com\" or \"*.example.com\"",
			     s);
			return false;
		}
	}
	return check_istio_pattern(v, s);
}

static bool check_abs_path(struct vctx *v, const char *s)
{
	if (s[0] == '/')
		return true;
	verr(v, "'%s' is not an absolute path; expected a path starting with '/'", s);
	return false;
}

static void lower_list(struct shunt_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		for (char *p = l->v[i]; p && *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
}

/* ---------- policies ---------- */

static void source_free(struct shunt_source *s)
{
	strlist_free(&s->principals);
	strlist_free(&s->not_principals);
	strlist_free(&s->namespaces);
	strlist_free(&s->not_namespaces);
	free(s->ip_blocks.v);
	free(s->not_ip_blocks.v);
}

static void operation_free(struct shunt_operation *o)
{
	strlist_free(&o->methods);
	strlist_free(&o->not_methods);
	strlist_free(&o->paths);
	strlist_free(&o->not_paths);
	strlist_free(&o->hosts);
	strlist_free(&o->not_hosts);
	free(o->ports.v);
	free(o->not_ports.v);
}

void authz_policy_free(struct shunt_authz_policy *p)
{
	free(p->name);
	free(p->ns);
	free(p->origin);
	labels_free(p->match_labels, p->n_match_labels);
	for (size_t i = 0; i < p->n_rules; i++) {
		struct shunt_rule *r = &p->rules[i];

		for (size_t j = 0; j < r->n_from; j++)
			source_free(&r->from[j]);
		for (size_t j = 0; j < r->n_to; j++)
			operation_free(&r->to[j]);
		for (size_t j = 0; j < r->n_when; j++) {
			strlist_free(&r->when[j].values);
			strlist_free(&r->when[j].not_values);
		}
		free(r->from);
		free(r->to);
		free(r->when);
	}
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

/* Rewrites principals written with a trust-domain alias to the trust domain. */
static void canon_principals(struct shunt_strlist *l, const struct shunt_options *o)
{
	for (size_t i = 0; o && i < l->n; i++) {
		for (size_t a = 0; a < o->trust_domain_aliases.n; a++) {
			const char *al = o->trust_domain_aliases.v[a];
			size_t al_len = strlen(al);
			char *p = l->v[i], *np;

			if (strncmp(p, al, al_len) || p[al_len] != '/')
				continue;
			np = malloc(strlen(o->trust_domain) + strlen(p + al_len) + 1);
			if (!np)
				continue;
			strcpy(np, o->trust_domain);
			strcat(np, p + al_len);
			free(p);
			l->v[i] = np;
			break;
		}
	}
}

static const char *const source_keys[] = {"principals",
					  "notPrincipals",
					  "namespaces",
					  "notNamespaces",
					  "ipBlocks",
					  "notIpBlocks",
					  "requestPrincipals",
					  "notRequestPrincipals",
					  "remoteIpBlocks",
					  "notRemoteIpBlocks",
					  NULL};

static void parse_source(struct vctx *v, json_t *j, struct shunt_source *s,
			 const struct shunt_options *o)
{
	static const char *const unsupported[] = {"requestPrincipals", "notRequestPrincipals",
						  "remoteIpBlocks", "notRemoteIpBlocks", NULL};

	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		return;
	check_keys(v, j, source_keys);
	for (size_t i = 0; unsupported[i]; i++) {
		size_t old;

		if (!json_object_get(j, unsupported[i]))
			continue;
		old = vctx_push_key(v, unsupported[i]);
		if (i < 2)
			verr_key(v,
				 "'%s' (JWT request principals) is not supported by shunt; remove "
				 "it or use principals",
				 unsupported[i]);
		else
			verr_key(v, "'%s' needs X-Forwarded-For, which shunt never trusts; use %s",
				 unsupported[i], i == 2 ? "ipBlocks" : "notIpBlocks");
		vctx_pop(v, old);
	}
	get_strlist(v, j, "principals", &s->principals, check_principal);
	get_strlist(v, j, "notPrincipals", &s->not_principals, check_principal);
	get_strlist(v, j, "namespaces", &s->namespaces, check_istio_pattern);
	get_strlist(v, j, "notNamespaces", &s->not_namespaces, check_istio_pattern);
	get_cidrlist(v, j, "ipBlocks", &s->ip_blocks);
	get_cidrlist(v, j, "notIpBlocks", &s->not_ip_blocks);
	canon_principals(&s->principals, o);
	canon_principals(&s->not_principals, o);
}

static void parse_operation(struct vctx *v, json_t *j, struct shunt_operation *op)
{
	static const char *const keys[] = {"hosts",    "notHosts", "ports",
					   "notPorts", "methods",  "notMethods",
					   "paths",    "notPaths", NULL};

	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		return;
	check_keys(v, j, keys);
	get_strlist(v, j, "hosts", &op->hosts, check_host);
	get_strlist(v, j, "notHosts", &op->not_hosts, check_host);
	get_portlist(v, j, "ports", &op->ports);
	get_portlist(v, j, "notPorts", &op->not_ports);
	get_strlist(v, j, "methods", &op->methods, check_method);
	get_strlist(v, j, "notMethods", &op->not_methods, check_method);
	get_strlist(v, j, "paths", &op->paths, check_path);
	get_strlist(v, j, "notPaths", &op->not_paths, check_path);
	lower_list(&op->hosts);
	lower_list(&op->not_hosts);
}

static bool check_ip_value(struct vctx *v, const char *s)
{
	struct shunt_cidr c;
	const char *why;

	if (cidr_parse(s, &c, &why) == 0)
		return true;
	verr(v, "bad IP or CIDR '%s': %s", s, why);
	return false;
}

static bool check_port_value(struct vctx *v, const char *s)
{
	json_t *j = json_string(s);
	uint16_t p;
	bool ok = j && port_value(v, j, &p);

	json_decref(j);
	return ok;
}

static void parse_condition(struct vctx *v, json_t *j, struct shunt_condition *c, bool *ok)
{
	static const char *const keys[] = {"key", "values", "notValues", NULL};
	static const struct {
		const char *name;
		enum shunt_cond_key key;
		str_check_fn check;
	} known[] = {
		{"source.ip", SHUNT_COND_SOURCE_IP, check_ip_value},
		{"source.namespace", SHUNT_COND_SOURCE_NAMESPACE, check_istio_pattern},
		{"source.principal", SHUNT_COND_SOURCE_PRINCIPAL, check_istio_pattern},
		{"destination.port", SHUNT_COND_DESTINATION_PORT, check_port_value},
	};
	json_t *kj;
	const char *key;
	size_t old, i;

	*ok = false;
	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		return;
	check_keys(v, j, keys);
	kj = json_object_get(j, "key");
	if (!kj) {
		verr(v, "missing required key 'key'");
		return;
	}
	old = vctx_push_key(v, "key");
	if (!expect_type(v, kj, JSON_STRING, "a string")) {
		vctx_pop(v, old);
		return;
	}
	key = json_string_value(kj);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(key, known[i].name) == 0)
			break;
	if (i == sizeof(known) / sizeof(known[0])) {
		if (strncmp(key, "request.auth.", 13) == 0)
			verr(v, "condition '%s' (JWT claims) is not supported by shunt", key);
		else if (strncmp(key, "request.headers", 15) == 0)
			verr(v, "condition '%s': request headers are never trusted by shunt", key);
		else
			verr(v,
			     "condition key '%s' cannot be evaluated by shunt; expected source.ip, "
			     "source.namespace, source.principal or destination.port",
			     key);
		vctx_pop(v, old);
		return;
	}
	vctx_pop(v, old);
	c->key = known[i].key;
	get_strlist(v, j, "values", &c->values, known[i].check);
	get_strlist(v, j, "notValues", &c->not_values, known[i].check);
	if (!json_object_get(j, "values") && !json_object_get(j, "notValues")) {
		verr(v, "condition needs 'values' or 'notValues'");
		return;
	}
	*ok = true;
}

/* Parses a list of wrapper objects {"<inner>": {...}} (from[].source, to[].operation). */
static void parse_rule(struct vctx *v, json_t *j, struct shunt_rule *r,
		       const struct shunt_options *o)
{
	static const char *const keys[] = {"from", "to", "when", NULL};
	static const char *const from_keys[] = {"source", NULL};
	static const char *const to_keys[] = {"operation", NULL};
	json_t *a, *e;
	size_t i, old;

	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		return;
	check_keys(v, j, keys);
	if ((a = json_object_get(j, "from"))) {
		old = vctx_push_key(v, "from");
		if (expect_type(v, a, JSON_ARRAY, "an array of {\"source\": {...}}")) {
			if (!json_array_size(a))
				verr(v, "empty list; omit 'from' or give at least one source");
			r->from = calloc(json_array_size(a) + 1, sizeof(*r->from));
			json_array_foreach (a, i, e) {
				size_t o2 = vctx_push_index(v, i);

				if (r->from && expect_type(v, e, JSON_OBJECT, "an object")) {
					json_t *s = json_object_get(e, "source");
					size_t o3;

					check_keys(v, e, from_keys);
					if (!s) {
						verr(v, "missing required key 'source'");
					} else {
						o3 = vctx_push_key(v, "source");
						parse_source(v, s, &r->from[r->n_from++], o);
						vctx_pop(v, o3);
					}
				}
				vctx_pop(v, o2);
			}
		}
		vctx_pop(v, old);
	}
	if ((a = json_object_get(j, "to"))) {
		old = vctx_push_key(v, "to");
		if (expect_type(v, a, JSON_ARRAY, "an array of {\"operation\": {...}}")) {
			if (!json_array_size(a))
				verr(v, "empty list; omit 'to' or give at least one operation");
			r->to = calloc(json_array_size(a) + 1, sizeof(*r->to));
			json_array_foreach (a, i, e) {
				size_t o2 = vctx_push_index(v, i);

				if (r->to && expect_type(v, e, JSON_OBJECT, "an object")) {
					json_t *s = json_object_get(e, "operation");
					size_t o3;

					check_keys(v, e, to_keys);
					if (!s) {
						verr(v, "missing required key 'operation'");
					} else {
						o3 = vctx_push_key(v, "operation");
						parse_operation(v, s, &r->to[r->n_to++]);
						vctx_pop(v, o3);
					}
				}
				vctx_pop(v, o2);
			}
		}
		vctx_pop(v, old);
	}
	if ((a = json_object_get(j, "when"))) {
		old = vctx_push_key(v, "when");
		if (expect_type(v, a, JSON_ARRAY, "an array of conditions")) {
			if (!json_array_size(a))
				verr(v, "empty list; omit 'when' or give at least one condition");
			r->when = calloc(json_array_size(a) + 1, sizeof(*r->when));
			json_array_foreach (a, i, e) {
				size_t o2 = vctx_push_index(v, i);
				bool ok;

				if (r->when) {
					parse_condition(v, e, &r->when[r->n_when], &ok);
					if (ok)
						r->n_when++;
					else
						strlist_free(&r->when[r->n_when].values),
							strlist_free(
								&r->when[r->n_when].not_values);
				}
				vctx_pop(v, o2);
			}
		}
		vctx_pop(v, old);
	}
}

static const char *const metadata_keys[] = {"name",
					    "namespace",
					    "labels",
					    "annotations",
					    "uid",
					    "resourceVersion",
					    "generation",
					    "creationTimestamp",
					    "managedFields",
					    "selfLink",
					    "finalizers",
					    "ownerReferences",
					    "generateName",
					    "deletionTimestamp",
					    "deletionGracePeriodSeconds",
					    NULL};

static void parse_metadata(struct vctx *v, json_t *obj, char **name, char **ns)
{
	json_t *m = json_object_get(obj, "metadata");
	size_t old;

	if (!m) {
		verr(v, "missing required key 'metadata' (with name and namespace)");
		return;
	}
	old = vctx_push_key(v, "metadata");
	if (expect_type(v, m, JSON_OBJECT, "an object")) {
		size_t o2;

		check_keys(v, m, metadata_keys);
		*name = get_string(v, m, "name", true, NULL);
		*ns = get_string(v, m, "namespace", false, "default");
		o2 = vctx_push_key(v, "name");
		if (*name)
			check_k8s_name(v, *name);
		vctx_pop(v, o2);
		o2 = vctx_push_key(v, "namespace");
		if (*ns && json_object_get(m, "namespace"))
			check_k8s_name(v, *ns);
		vctx_pop(v, o2);
	}
	vctx_pop(v, old);
}

int parse_authz_policy(struct vctx *v, json_t *obj, struct shunt_authz_policy *p,
		       const struct shunt_options *o, bool kubectl_object)
{
	static const char *const keys[] = {"apiVersion", "kind", "metadata", "spec", NULL};
	static const char *const kkeys[] = {"apiVersion", "kind",   "metadata",
					    "spec",	  "status", NULL};
	static const char *const spec_keys[] = {"selector",  "action",	   "rules", "provider",
						"targetRef", "targetRefs", NULL};
	json_t *spec, *j;
	int before = v->nerr;
	size_t old, i;

	memset(p, 0, sizeof(*p));
	if (!expect_type(v, obj, JSON_OBJECT, "an AuthorizationPolicy object"))
		return -EINVAL;
	check_keys(v, obj, kubectl_object ? kkeys : keys);
	if ((j = json_object_get(obj, "apiVersion"))) {
		old = vctx_push_key(v, "apiVersion");
		if (!json_is_string(j) ||
		    (strcmp(json_string_value(j), "security.istio.io/v1") &&
		     strcmp(json_string_value(j), "security.istio.io/v1beta1")))
			verr(v, "unsupported apiVersion; expected \"security.istio.io/v1\" or "
				"\"security.istio.io/v1beta1\"");
		vctx_pop(v, old);
	}
	if ((j = json_object_get(obj, "kind"))) {
		old = vctx_push_key(v, "kind");
		if (!json_is_string(j) || strcmp(json_string_value(j), "AuthorizationPolicy"))
			verr(v, "expected \"AuthorizationPolicy\"");
		vctx_pop(v, old);
	}
	parse_metadata(v, obj, &p->name, &p->ns);
	spec = json_object_get(obj, "spec");
	p->action = SHUNT_ACTION_ALLOW;
	if (!spec) {
		/* Istio: no spec = ALLOW with no rules = deny all for the namespace. */
		goto out;
	}
	old = vctx_push_key(v, "spec");
	if (!expect_type(v, spec, JSON_OBJECT, "an object")) {
		vctx_pop(v, old);
		goto out;
	}
	check_keys(v, spec, spec_keys);
	if ((j = json_object_get(spec, "action"))) {
		size_t o2 = vctx_push_key(v, "action");
		const char *a = json_is_string(j) ? json_string_value(j) : "";

		if (!strcmp(a, "ALLOW"))
			p->action = SHUNT_ACTION_ALLOW;
		else if (!strcmp(a, "DENY"))
			p->action = SHUNT_ACTION_DENY;
		else if (!strcmp(a, "AUDIT"))
			p->action = SHUNT_ACTION_AUDIT;
		else if (!strcmp(a, "CUSTOM"))
			verr(v, "action CUSTOM (external authorization) is not supported by shunt; "
				"expected ALLOW, DENY or AUDIT");
		else if (json_is_string(j))
			verr(v, "unknown action '%s'; expected ALLOW, DENY or AUDIT", a);
		else
			verr(v, "expected ALLOW, DENY or AUDIT, got %s", json_kind(j));
		vctx_pop(v, o2);
	}
	if (json_object_get(spec, "provider")) {
		size_t o2 = vctx_push_key(v, "provider");

		verr_key(v, "'provider' belongs to action CUSTOM, which shunt does not support");
		vctx_pop(v, o2);
	}
	for (i = 0; i < 2; i++) {
		const char *k = i ? "targetRefs" : "targetRef";
		size_t o2;

		if (!json_object_get(spec, k))
			continue;
		o2 = vctx_push_key(v, k);
		verr_key(v,
			 "'%s' (attaching to gateways/services) is not supported; use 'selector'",
			 k);
		vctx_pop(v, o2);
	}
	if ((j = json_object_get(spec, "selector"))) {
		static const char *const sel_keys[] = {"matchLabels", NULL};
		size_t o2 = vctx_push_key(v, "selector");

		if (expect_type(v, j, JSON_OBJECT, "an object")) {
			check_keys(v, j, sel_keys);
			p->has_selector = true;
			get_labels(v, j, "matchLabels", &p->match_labels, &p->n_match_labels);
		}
		vctx_pop(v, o2);
	}
	if ((j = json_object_get(spec, "rules"))) {
		json_t *e;
		size_t o2 = vctx_push_key(v, "rules");

		if (expect_type(v, j, JSON_ARRAY, "an array of rules")) {
			p->rules = calloc(json_array_size(j) + 1, sizeof(*p->rules));
			if (!p->rules)
				v->oom = true;
			json_array_foreach (j, i, e) {
				size_t o3 = vctx_push_index(v, i);

				if (p->rules)
					parse_rule(v, e, &p->rules[p->n_rules++], o);
				vctx_pop(v, o3);
			}
		}
		vctx_pop(v, o2);
	}
	vctx_pop(v, old);
out:
	return v->nerr > before || v->oom ? -EINVAL : 0;
}

/* Duplicate (namespace, name) among pol[first_new..n) vs all before. */
int check_unique_policies(struct vctx *v, const struct shunt_authz_policy *pol, size_t n,
			  size_t first_new)
{
	struct smap seen = {0};
	char key[600];
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		struct smap_ent *e;

		if (!pol[i].name || !pol[i].ns)
			continue;
		snprintf(key, sizeof(key), "%s/%s", pol[i].ns, pol[i].name);
		e = smap_find(&seen, key);
		if (e && i >= first_new) {
			const struct shunt_authz_policy *first = &pol[e->l.v[0]];

			shunt_diags_add(v->d, v->file, DIAG_AT_VALUE, 0, pol[i].origin,
					"duplicate policy '%s' (first defined at %s)", key,
					first->origin ? first->origin : "?");
			v->nerr++;
		} else if (!e) {
			err = smap_add(&seen, key, (uint32_t)i);
		}
	}
	smap_free(&seen);
	if (err)
		v->oom = true;
	return err;
}

/* ---------- sections ---------- */

static void parse_options(struct vctx *v, json_t *root, struct shunt_options *o)
{
	static const char *const keys[] = {"escapedSlashes",
					   "caseInsensitivePaths",
					   "rootNamespace",
					   "extraRootNamespaces",
					   "trustDomain",
					   "trustDomainAliases",
					   NULL};
	json_t *j = json_object_get(root, "options"), *e;
	size_t old;

	o->root_namespace = xstrdup("shunt-system");
	o->trust_domain = xstrdup("cluster.local");
	if (!j)
		return;
	old = vctx_push_key(v, "options");
	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		goto out;
	check_keys(v, j, keys);
	if ((e = json_object_get(j, "escapedSlashes"))) {
		size_t o2 = vctx_push_key(v, "escapedSlashes");

		if (json_is_string(e) && !strcmp(json_string_value(e), "reject"))
			o->decode_escaped_slashes = false;
		else if (json_is_string(e) && !strcmp(json_string_value(e), "decode-and-merge"))
			o->decode_escaped_slashes = true;
		else
			verr(v, "expected \"reject\" or \"decode-and-merge\"");
		vctx_pop(v, o2);
	}
	o->case_insensitive_paths = get_bool(v, j, "caseInsensitivePaths", false);
	if (json_object_get(j, "rootNamespace")) {
		size_t o2 = vctx_push_key(v, "rootNamespace");

		free(o->root_namespace);
		vctx_pop(v, o2);
		o->root_namespace = get_string(v, j, "rootNamespace", false, NULL);
		o2 = vctx_push_key(v, "rootNamespace");
		if (o->root_namespace)
			check_k8s_name(v, o->root_namespace);
		vctx_pop(v, o2);
	}
	if (json_object_get(j, "trustDomain")) {
		free(o->trust_domain);
		o->trust_domain = get_string(v, j, "trustDomain", false, NULL);
	}
	get_strlist(v, j, "extraRootNamespaces", &o->extra_root_namespaces, check_k8s_name);
	get_strlist(v, j, "trustDomainAliases", &o->trust_domain_aliases, NULL);
out:
	vctx_pop(v, old);
}

/* ---- capture (interception) ---- */

/*
 * A list that may be ["*"] (everything), explicit entries, or [] (nothing):
 * Istio's includeInboundPorts / includeOutboundIPRanges. Returns the
 * selection; entries go to *ports or *cidrs (exactly one of them non-NULL).
 */
static enum shunt_sel get_sel_list(struct vctx *v, json_t *obj, const char *key,
				   struct shunt_portlist *ports, struct shunt_cidrlist *cidrs)
{
	json_t *j = json_object_get(obj, key), *e;
	enum shunt_sel sel = SHUNT_SEL_LIST;
	size_t old, i, n;

	if (!j)
		return SHUNT_SEL_UNSET;
	old = vctx_push_key(v, key);
	if (!expect_type(v, j, JSON_ARRAY,
			 ports ? "an array of ports, [\"*\"] or []"
			       : "an array of CIDR strings, [\"*\"] or []"))
		goto out;
	n = json_array_size(j);
	if (n == 0)
		goto out;
	json_array_foreach (j, i, e) {
		if (json_is_string(e) && !strcmp(json_string_value(e), "*")) {
			size_t o2 = vctx_push_index(v, i);

			if (n != 1)
				verr(v, "\"*\" (everything) must be the only entry");
			vctx_pop(v, o2);
			sel = SHUNT_SEL_ALL;
		}
	}
	if (sel == SHUNT_SEL_ALL)
		goto out;
	if (ports) {
		ports->v = calloc(n, sizeof(*ports->v));
		if (!ports->v) {
			v->oom = true;
			goto out;
		}
	} else {
		cidrs->v = calloc(n, sizeof(*cidrs->v));
		if (!cidrs->v) {
			v->oom = true;
			goto out;
		}
	}
	json_array_foreach (j, i, e) {
		size_t o2 = vctx_push_index(v, i);
		const char *why;

		if (ports) {
			if (port_value(v, e, &ports->v[ports->n]))
				ports->n++;
		} else if (expect_type(v, e, JSON_STRING,
				       "a CIDR string such as \"10.0.0.0/8\" or \"*\"")) {
			if (cidr_parse(json_string_value(e), &cidrs->v[cidrs->n], &why) == 0)
				cidrs->n++;
			else
				verr(v,
				     "bad CIDR '%s': %s; expected e.g. \"10.0.0.0/8\", "
				     "\"fd00::/64\" or \"*\"",
				     json_string_value(e), why);
		}
		vctx_pop(v, o2);
	}
out:
	vctx_pop(v, old);
	return sel;
}

static void capture_config_free(struct shunt_capture_config *c)
{
	strlist_free(&c->proxy_cgroups);
	free(c->exclude_outbound_ports.v);
	free(c->exclude_inbound_ports.v);
	free(c->include_outbound_ports.v);
	free(c->include_outbound_cidrs.v);
	free(c->exclude_outbound_cidrs.v);
}

static void workload_capture_free(struct shunt_workload_capture *c)
{
	free(c->include_inbound_ports.v);
	free(c->exclude_inbound_ports.v);
	free(c->exclude_outbound_ports.v);
	free(c->include_outbound_ports.v);
	free(c->include_outbound_cidrs.v);
	free(c->exclude_outbound_cidrs.v);
}

/* workloads[i].capture: Istio's traffic.sidecar.istio.io annotations. */
static void parse_workload_capture(struct vctx *v, json_t *w, struct shunt_workload_capture *c)
{
	static const char *const keys[] = {"includeInboundPorts",
					   "excludeInboundPorts",
					   "excludeOutboundPorts",
					   "includeOutboundPorts",
					   "includeOutboundCidrs",
					   "excludeOutboundCidrs",
					   NULL};
	json_t *j = json_object_get(w, "capture"), *e;
	size_t old;

	if (!j)
		return;
	old = vctx_push_key(v, "capture");
	if (expect_type(v, j, JSON_OBJECT, "an object")) {
		check_keys(v, j, keys);
		c->include_inbound =
			get_sel_list(v, j, "includeInboundPorts", &c->include_inbound_ports, NULL);
		get_portlist(v, j, "excludeInboundPorts", &c->exclude_inbound_ports);
		get_portlist(v, j, "excludeOutboundPorts", &c->exclude_outbound_ports);
		get_portlist(v, j, "includeOutboundPorts", &c->include_outbound_ports);
		c->include_outbound = get_sel_list(v, j, "includeOutboundCidrs", NULL,
						   &c->include_outbound_cidrs);
		/* [] is allowed here: no exclusion for this workload (it replaces
		 * the global list, as an empty Istio annotation does) */
		e = json_object_get(j, "excludeOutboundCidrs");
		if (json_is_array(e) && json_array_size(e) == 0)
			c->exclude_outbound = SHUNT_SEL_LIST;
		else if (e)
			get_cidrlist(v, j, "excludeOutboundCidrs", &c->exclude_outbound_cidrs);
		if (c->exclude_outbound_cidrs.n)
			c->exclude_outbound = SHUNT_SEL_LIST;
	}
	vctx_pop(v, old);
}

static void parse_capture(struct vctx *v, json_t *root, struct shunt_capture_config *c)
{
	static const char *const keys[] = {"mode",
					   "proxyUid",
					   "proxyMark",
					   "proxyCgroups",
					   "outboundPort",
					   "inboundPort",
					   "inboundCapture",
					   "excludeOutboundPorts",
					   "excludeInboundPorts",
					   "includeOutboundPorts",
					   "includeOutboundCidrs",
					   "excludeOutboundCidrs",
					   "l4Policy",
					   "l7Proxy",
					   NULL};
	json_t *j = json_object_get(root, "capture"), *e;
	size_t old;

	c->mode = SHUNT_CFG_CAPTURE_OFF;
	c->proxy_uid = 1337;
	c->outbound_port = 15001;
	c->inbound_port = 15006;
	c->inbound_capture = true;
	c->l4_policy = true;
	c->l7_proxy = true;
	if (!j)
		return;
	old = vctx_push_key(v, "capture");
	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		goto out;
	c->present = true;
	check_keys(v, j, keys);
	if ((e = json_object_get(j, "mode"))) {
		size_t o2 = vctx_push_key(v, "mode");
		const char *s = json_is_string(e) ? json_string_value(e) : "";

		c->has_mode = true;
		if (!strcmp(s, "off"))
			c->mode = SHUNT_CFG_CAPTURE_OFF;
		else if (!strcmp(s, "l7"))
			c->mode = SHUNT_CFG_CAPTURE_L7;
		else if (!strcmp(s, "istio"))
			c->mode = SHUNT_CFG_CAPTURE_ISTIO;
		else
			verr(v, "expected \"off\", \"l7\" or \"istio\"");
		vctx_pop(v, o2);
	}
	if ((e = json_object_get(j, "proxyUid"))) {
		c->has_proxy_uid = true;
		if (json_is_null(e))
			c->proxy_uid = SHUNT_CFG_PROXY_UID_NONE;
		else
			c->proxy_uid = (int64_t)get_uint(v, j, "proxyUid", 0, 0xfffffffeu, 1337);
	}
	c->has_proxy_mark = json_object_get(j, "proxyMark") != NULL;
	c->proxy_mark = (uint32_t)get_uint(v, j, "proxyMark", 0, 0xffffffffu, 0);
	get_strlist(v, j, "proxyCgroups", &c->proxy_cgroups, check_abs_path);
	c->has_outbound_port = json_object_get(j, "outboundPort") != NULL;
	c->outbound_port = (uint16_t)get_uint(v, j, "outboundPort", 1, 65535, 15001);
	c->has_inbound_port = json_object_get(j, "inboundPort") != NULL;
	c->inbound_port = (uint16_t)get_uint(v, j, "inboundPort", 1, 65535, 15006);
	if (c->has_inbound_port && c->outbound_port == c->inbound_port) {
		size_t o2 = vctx_push_key(v, "inboundPort");

		verr(v, "inboundPort must differ from outboundPort (%u)", c->outbound_port);
		vctx_pop(v, o2);
	}
	c->has_inbound_capture = json_object_get(j, "inboundCapture") != NULL;
	c->inbound_capture = get_bool(v, j, "inboundCapture", true);
	get_portlist(v, j, "excludeOutboundPorts", &c->exclude_outbound_ports);
	get_portlist(v, j, "excludeInboundPorts", &c->exclude_inbound_ports);
	get_portlist(v, j, "includeOutboundPorts", &c->include_outbound_ports);
	c->include_outbound =
		get_sel_list(v, j, "includeOutboundCidrs", NULL, &c->include_outbound_cidrs);
	get_cidrlist(v, j, "excludeOutboundCidrs", &c->exclude_outbound_cidrs);
	c->has_l4_policy = json_object_get(j, "l4Policy") != NULL;
	c->l4_policy = get_bool(v, j, "l4Policy", true);
	c->has_l7_proxy = json_object_get(j, "l7Proxy") != NULL;
	c->l7_proxy = get_bool(v, j, "l7Proxy", true);
out:
	vctx_pop(v, old);
}

static void workload_free(struct shunt_workload *w)
{
	free(w->name);
	free(w->ns);
	free(w->service_account);
	free(w->principal);
	labels_free(w->labels, w->n_labels);
	free(w->addresses);
	strlist_free(&w->cgroups);
	workload_capture_free(&w->capture);
}

static void parse_workloads(struct vctx *v, json_t *root, struct shunt_config *c)
{
	static const char *const keys[] = {"name",    "namespace", "serviceAccount",
					   "labels",  "addresses", "cgroups",
					   "sidecar", "capture",   NULL};
	json_t *a = json_object_get(root, "workloads"), *e;
	struct smap names = {0}, addrs_seen = {0}, cg_seen = {0};
	size_t old, i;

	if (!a)
		return;
	old = vctx_push_key(v, "workloads");
	if (!expect_type(v, a, JSON_ARRAY, "an array of workloads"))
		goto out;
	c->workloads = calloc(json_array_size(a) + 1, sizeof(*c->workloads));
	if (!c->workloads) {
		v->oom = true;
		goto out;
	}
	json_array_foreach (a, i, e) {
		size_t o2 = vctx_push_index(v, i), o3;
		struct shunt_workload *w = &c->workloads[c->n_workloads];
		struct shunt_cidrlist addrs = {0};

		if (!expect_type(v, e, JSON_OBJECT, "a workload object")) {
			vctx_pop(v, o2);
			continue;
		}
		c->n_workloads++;
		check_keys(v, e, keys);
		w->name = get_string(v, e, "name", true, NULL);
		w->ns = get_string(v, e, "namespace", false, "default");
		w->service_account = get_string(v, e, "serviceAccount", false, "default");
		o3 = vctx_push_key(v, "name");
		if (w->name)
			check_k8s_name(v, w->name);
		vctx_pop(v, o3);
		o3 = vctx_push_key(v, "namespace");
		if (w->ns && json_object_get(e, "namespace"))
			check_k8s_name(v, w->ns);
		vctx_pop(v, o3);
		get_labels(v, e, "labels", &w->labels, &w->n_labels);
		get_cidrlist(v, e, "addresses", &addrs);
		w->addresses = addrs.v;
		w->n_addresses = addrs.n;
		get_strlist(v, e, "cgroups", &w->cgroups, check_abs_path);
		w->sidecar = -1;
		if (json_object_get(e, "sidecar"))
			w->sidecar = get_bool(v, e, "sidecar", true) ? 1 : 0;
		parse_workload_capture(v, e, &w->capture);
		if (w->sidecar == 0 && json_object_get(e, "capture")) {
			o3 = vctx_push_key(v, "capture");
			verr(v, "a workload with \"sidecar\": false is never captured; remove "
				"'capture' or the sidecar setting");
			vctx_pop(v, o3);
		}
		if (w->ns && w->service_account && c->options.trust_domain) {
			size_t n = strlen(c->options.trust_domain) + strlen(w->ns) +
				   strlen(w->service_account) + 16;

			w->principal = malloc(n);
			if (w->principal)
				snprintf(w->principal, n, "%s/ns/%s/sa/%s", c->options.trust_domain,
					 w->ns, w->service_account);
		}
		/* duplicates: name within namespace, identical addresses, cgroups */
		if (w->name && w->ns) {
			char key[600];
			struct smap_ent *x;

			snprintf(key, sizeof(key), "%s/%s", w->ns, w->name);
			if ((x = smap_find(&names, key))) {
				o3 = vctx_push_key(v, "name");
				verr(v, "duplicate workload '%s' (also $.workloads[%u])", key,
				     x->l.v[0]);
				vctx_pop(v, o3);
			} else if (smap_add(&names, key, (uint32_t)i)) {
				v->oom = true;
			}
		}
		for (size_t k = 0; k < w->n_addresses; k++) {
			char buf[64];
			struct smap_ent *x;

			cidr_format(&w->addresses[k], buf, sizeof(buf));
			if ((x = smap_find(&addrs_seen, buf))) {
				const struct shunt_workload *o = &c->workloads[x->l.v[0]];

				o3 = vctx_push_key(v, "addresses");
				vctx_push_index(v, k);
				verr(v, "address %s already belongs to workload '%s/%s'", buf,
				     o->ns, o->name ? o->name : "?");
				vctx_pop(v, o3);
			} else if (smap_add(&addrs_seen, buf, (uint32_t)(c->n_workloads - 1))) {
				v->oom = true;
			}
		}
		for (size_t k = 0; k < w->cgroups.n; k++) {
			struct smap_ent *x;

			if ((x = smap_find(&cg_seen, w->cgroups.v[k]))) {
				const struct shunt_workload *o = &c->workloads[x->l.v[0]];

				o3 = vctx_push_key(v, "cgroups");
				vctx_push_index(v, k);
				verr(v, "cgroup %s already belongs to workload '%s/%s'",
				     w->cgroups.v[k], o->ns, o->name ? o->name : "?");
				vctx_pop(v, o3);
			} else if (smap_add(&cg_seen, w->cgroups.v[k],
					    (uint32_t)(c->n_workloads - 1))) {
				v->oom = true;
			}
		}
		vctx_pop(v, o2);
	}
out:
	smap_free(&names);
	smap_free(&addrs_seen);
	smap_free(&cg_seen);
	vctx_pop(v, old);
}

/* ---------- services (Kubernetes Service, type ClusterIP) ---------- */

static void service_free(struct shunt_service *s)
{
	free(s->name);
	free(s->ns);
	free(s->cluster_ips.v);
	free(s->ports);
	labels_free(s->selector, s->n_selector);
}

/* One clusterIP (a plain address, no prefix) appended to s->cluster_ips. */
static void service_ip(struct vctx *v, json_t *e, struct shunt_service *s)
{
	const char *why, *str;
	struct shunt_cidr c;

	if (!expect_type(v, e, JSON_STRING, "an IP address string such as \"10.96.0.10\""))
		return;
	str = json_string_value(e);
	if (!strcmp(str, "None")) {
		verr(v, "headless services (clusterIP \"None\") have no virtual IP; list the "
			"pods as workloads instead");
		return;
	}
	if (strchr(str, '/') || cidr_parse(str, &c, &why)) {
		verr(v,
		     "bad clusterIP '%s': expected one IP address such as \"10.96.0.10\" or "
		     "\"fd00:96::a\"",
		     str);
		return;
	}
	for (size_t i = 0; i < s->cluster_ips.n; i++)
		if (!memcmp(&s->cluster_ips.v[i], &c, sizeof(c)))
			return; /* clusterIP repeated in clusterIPs, as Kubernetes writes it */
	s->cluster_ips.v[s->cluster_ips.n++] = c;
}

static void service_ports(struct vctx *v, json_t *e, struct shunt_service *s)
{
	static const char *const keys[] = {"name", "port", "targetPort", "protocol", NULL};
	json_t *a = json_object_get(e, "ports"), *p;
	size_t old, i;

	if (!a) {
		verr(v, "missing required key 'ports'");
		return;
	}
	old = vctx_push_key(v, "ports");
	if (!expect_type(v, a, JSON_ARRAY, "an array of service ports"))
		goto out;
	if (!json_array_size(a)) {
		verr(v, "empty list; a service needs at least one port");
		goto out;
	}
	s->ports = calloc(json_array_size(a), sizeof(*s->ports));
	if (!s->ports) {
		v->oom = true;
		goto out;
	}
	json_array_foreach (a, i, p) {
		size_t o2 = vctx_push_index(v, i), o3;
		uint16_t port = 0, target = 0;
		json_t *j;
		bool tcp = true, ok = true;

		if (!expect_type(v, p, JSON_OBJECT, "a service port object")) {
			vctx_pop(v, o2);
			continue;
		}
		check_keys(v, p, keys);
		if ((j = json_object_get(p, "protocol"))) {
			o3 = vctx_push_key(v, "protocol");
			if (!json_is_string(j) || (strcmp(json_string_value(j), "TCP") &&
						   strcmp(json_string_value(j), "UDP") &&
						   strcmp(json_string_value(j), "SCTP"))) {
				verr(v, "expected \"TCP\", \"UDP\" or \"SCTP\"");
				ok = false;
			} else {
				tcp = !strcmp(json_string_value(j), "TCP");
			}
			vctx_pop(v, o3);
		}
		if (!(j = json_object_get(p, "port"))) {
			verr(v, "missing required key 'port'");
			ok = false;
		} else {
			o3 = vctx_push_key(v, "port");
			if (json_is_integer(j))
				ok = port_value(v, j, &port) && ok;
			else {
				verr(v, "expected a port number 1..65535, got %s", json_kind(j));
				ok = false;
			}
			vctx_pop(v, o3);
		}
		target = port;
		if ((j = json_object_get(p, "targetPort"))) {
			o3 = vctx_push_key(v, "targetPort");
			if (json_is_string(j)) {
				verr(v,
				     "named targetPort '%s' is not supported; give the container "
				     "port number",
				     json_string_value(j));
				ok = false;
			} else if (json_is_integer(j)) {
				ok = port_value(v, j, &target) && ok;
			} else {
				verr(v, "expected a port number 1..65535, got %s", json_kind(j));
				ok = false;
			}
			vctx_pop(v, o3);
		}
		if (ok && tcp) {
			for (size_t k = 0; k < s->n_ports; k++) {
				if (s->ports[k].port == port) {
					o3 = vctx_push_key(v, "port");
					verr(v, "duplicate TCP port %u in this service", port);
					vctx_pop(v, o3);
					ok = false;
					break;
				}
			}
		}
		/* UDP and SCTP: accepted, but the connect() hook judges TCP only */
		if (ok && tcp)
			s->ports[s->n_ports++] = (struct shunt_service_port){port, target};
		vctx_pop(v, o2);
	}
out:
	vctx_pop(v, old);
}

static void parse_services(struct vctx *v, json_t *root, struct shunt_config *c)
{
	static const char *const keys[] = {"name",	 "namespace", "type",	  "clusterIP",
					   "clusterIPs", "ports",     "selector", NULL};
	json_t *a = json_object_get(root, "services"), *e;
	struct smap names = {0}, ips = {0}, waddrs = {0};
	size_t old, i;

	if (!a)
		return;
	old = vctx_push_key(v, "services");
	if (!expect_type(v, a, JSON_ARRAY, "an array of Service objects"))
		goto out;
	c->services = calloc(json_array_size(a) + 1, sizeof(*c->services));
	if (!c->services) {
		v->oom = true;
		goto out;
	}
	for (size_t w = 0; w < c->n_workloads; w++) {
		for (size_t k = 0; k < c->workloads[w].n_addresses; k++) {
			char buf[64];

			cidr_format(&c->workloads[w].addresses[k], buf, sizeof(buf));
			if (smap_add(&waddrs, buf, (uint32_t)w))
				v->oom = true;
		}
	}
	json_array_foreach (a, i, e) {
		size_t o2 = vctx_push_index(v, i), o3;
		struct shunt_service *s = &c->services[c->n_services];
		json_t *ip = json_object_get(e, "clusterIP"), *l = json_object_get(e, "clusterIPs");

		if (!expect_type(v, e, JSON_OBJECT, "a Service object")) {
			vctx_pop(v, o2);
			continue;
		}
		c->n_services++;
		check_keys(v, e, keys);
		s->name = get_string(v, e, "name", true, NULL);
		s->ns = get_string(v, e, "namespace", false, "default");
		o3 = vctx_push_key(v, "name");
		if (s->name)
			check_k8s_name(v, s->name);
		vctx_pop(v, o3);
		o3 = vctx_push_key(v, "namespace");
		if (s->ns && json_object_get(e, "namespace"))
			check_k8s_name(v, s->ns);
		vctx_pop(v, o3);
		s->cluster_ips.v = calloc((l && json_is_array(l) ? json_array_size(l) : 0) + 2,
					  sizeof(*s->cluster_ips.v));
		if (!s->cluster_ips.v) {
			v->oom = true;
			vctx_pop(v, o2);
			continue;
		}
		if (!ip && !l)
			verr(v, "missing required key 'clusterIPs'");
		if (ip) {
			o3 = vctx_push_key(v, "clusterIP");
			service_ip(v, ip, s);
			vctx_pop(v, o3);
		}
		if (l) {
			json_t *x;
			size_t k;

			o3 = vctx_push_key(v, "clusterIPs");
			if (expect_type(v, l, JSON_ARRAY, "an array of IP addresses")) {
				if (!json_array_size(l))
					verr(v, "empty list; give at least one clusterIP");
				json_array_foreach (l, k, x) {
					size_t o4 = vctx_push_index(v, k);

					service_ip(v, x, s);
					vctx_pop(v, o4);
				}
			}
			vctx_pop(v, o3);
		}
		if (json_object_get(e, "type")) {
			json_t *t = json_object_get(e, "type");

			o3 = vctx_push_key(v, "type");
			if (!json_is_string(t) || strcmp(json_string_value(t), "ClusterIP"))
				verr(v, "only type \"ClusterIP\" is supported (NodePort, "
					"LoadBalancer and ExternalName services are not judged)");
			vctx_pop(v, o3);
		}
		service_ports(v, e, s);
		if (!json_object_get(e, "selector")) {
			verr(v, "missing required key 'selector' (a service without selector has "
				"no backends shunt can know)");
		} else {
			get_labels(v, e, "selector", &s->selector, &s->n_selector);
			if (!s->n_selector && json_is_object(json_object_get(e, "selector"))) {
				o3 = vctx_push_key(v, "selector");
				verr(v,
				     "empty selector: a service without selector has no backends "
				     "shunt can know");
				vctx_pop(v, o3);
			}
		}
		if (s->name && s->ns) {
			char key[600];
			struct smap_ent *x;

			snprintf(key, sizeof(key), "%s/%s", s->ns, s->name);
			if ((x = smap_find(&names, key))) {
				o3 = vctx_push_key(v, "name");
				verr(v, "duplicate service '%s' (also $.services[%u])", key,
				     x->l.v[0]);
				vctx_pop(v, o3);
			} else if (smap_add(&names, key, (uint32_t)i)) {
				v->oom = true;
			}
		}
		for (size_t k = 0; k < s->cluster_ips.n; k++) {
			char buf[64];
			struct smap_ent *x;

			cidr_format(&s->cluster_ips.v[k], buf, sizeof(buf));
			/* with both keys, entry 0 came from clusterIP */
			o3 = vctx_push_key(v, l && !(ip && k == 0) ? "clusterIPs" : "clusterIP");
			if (l && !ip)
				vctx_push_index(v, k);
			if ((x = smap_find(&ips, buf))) {
				const struct shunt_service *o = &c->services[x->l.v[0]];

				verr(v, "clusterIP %s already belongs to service '%s/%s'", buf,
				     o->ns ? o->ns : "?", o->name ? o->name : "?");
			} else if ((x = smap_find(&waddrs, buf))) {
				const struct shunt_workload *o = &c->workloads[x->l.v[0]];

				verr(v, "clusterIP %s is an address of workload '%s/%s'", buf,
				     o->ns ? o->ns : "?", o->name ? o->name : "?");
			} else if (smap_add(&ips, buf, (uint32_t)(c->n_services - 1))) {
				v->oom = true;
			}
			vctx_pop(v, o3);
		}
		vctx_pop(v, o2);
	}
out:
	smap_free(&names);
	smap_free(&ips);
	smap_free(&waddrs);
	vctx_pop(v, old);
}

static void parse_policies(struct vctx *v, json_t *root, struct shunt_config *c)
{
	json_t *a = json_object_get(root, "authorizationPolicies"), *e;
	size_t old, i;

	if (!a)
		return;
	old = vctx_push_key(v, "authorizationPolicies");
	if (!expect_type(v, a, JSON_ARRAY, "an array of AuthorizationPolicy objects"))
		goto out;
	c->policies = calloc(json_array_size(a) + 1, sizeof(*c->policies));
	if (!c->policies) {
		v->oom = true;
		goto out;
	}
	json_array_foreach (a, i, e) {
		size_t o2 = vctx_push_index(v, i);
		struct shunt_authz_policy *p = &c->policies[c->n_policies++];

		parse_authz_policy(v, e, p, &c->options, false);
		p->origin = xstrdup(v->path);
		vctx_pop(v, o2);
	}
	check_unique_policies(v, c->policies, c->n_policies, 0);
out:
	vctx_pop(v, old);
}

static void parse_limits(struct vctx *v, json_t *proxy, struct shunt_limits *l)
{
	static const char *const keys[] = {"maxHeaderBytes",	"maxHeaders",
					   "headerTimeoutMs",	"idleTimeoutMs",
					   "maxConnections",	"connectTimeoutMs",
					   "upstreamTimeoutMs", "maxBufferBytes",
					   "maxPipelined",	NULL};
	json_t *j = proxy ? json_object_get(proxy, "limits") : NULL;
	size_t old;

	*l = (struct shunt_limits){16384, 100, 10000, 60000, 10000, 2000, 30000, 1048576, 64};
	if (!j)
		return;
	old = vctx_push_key(v, "limits");
	if (expect_type(v, j, JSON_OBJECT, "an object")) {
		check_keys(v, j, keys);
		l->max_header_bytes =
			(uint32_t)get_uint(v, j, "maxHeaderBytes", 1024, 1 << 20, 16384);
		l->max_headers = (uint32_t)get_uint(v, j, "maxHeaders", 1, 10000, 100);
		l->header_timeout_ms =
			(uint32_t)get_uint(v, j, "headerTimeoutMs", 1, 3600000, 10000);
		l->idle_timeout_ms = (uint32_t)get_uint(v, j, "idleTimeoutMs", 1, 86400000, 60000);
		l->max_connections = (uint32_t)get_uint(v, j, "maxConnections", 1, 10000000, 10000);
		l->connect_timeout_ms =
			(uint32_t)get_uint(v, j, "connectTimeoutMs", 1, 600000, 2000);
		l->upstream_timeout_ms =
			(uint32_t)get_uint(v, j, "upstreamTimeoutMs", 1, 86400000, 30000);
		l->max_buffer_bytes = get_uint(v, j, "maxBufferBytes", 4096, 1ull << 32, 1048576);
		l->max_pipelined = (uint32_t)get_uint(v, j, "maxPipelined", 1, 100000, 64);
	}
	vctx_pop(v, old);
}

static void parse_addr_member(struct vctx *v, json_t *obj, const char *key,
			      struct sockaddr_storage *ss, socklen_t *len, bool *ok)
{
	json_t *j = json_object_get(obj, key);
	size_t old = vctx_push_key(v, key);
	const char *why;

	*ok = false;
	if (expect_type(v, j, JSON_STRING, "an address \"IP:port\"")) {
		if (sockaddr_parse(json_string_value(j), ss, len, &why))
			verr(v, "bad address '%s': %s", json_string_value(j), why);
		else
			*ok = true;
	}
	vctx_pop(v, old);
}

static void parse_proxy(struct vctx *v, json_t *root, struct shunt_proxy_config *p)
{
	static const char *const keys[] = {"listeners", "workers", "admin",
					   "accessLog", "limits",  NULL};
	static const char *const lkeys[] = {"name", "address", "upstream", "mode", "enforce", NULL};
	json_t *j = json_object_get(root, "proxy"), *a, *e;
	size_t old, i;
	bool ok;

	p->workers = 1;
	parse_limits(v, NULL, &p->limits);
	if (!j)
		return;
	old = vctx_push_key(v, "proxy");
	if (!expect_type(v, j, JSON_OBJECT, "an object"))
		goto out;
	check_keys(v, j, keys);
	p->workers = (unsigned)get_uint(v, j, "workers", 1, 256, 1);
	parse_limits(v, j, &p->limits);
	if ((a = json_object_get(j, "admin")) && !json_is_null(a)) {
		parse_addr_member(v, j, "admin", &p->admin, &p->admin_len, &ok);
		p->has_admin = ok;
	}
	if (json_object_get(j, "accessLog")) {
		size_t o2;

		p->access_log = get_string(v, j, "accessLog", false, NULL);
		o2 = vctx_push_key(v, "accessLog");
		if (p->access_log)
			check_abs_path(v, p->access_log);
		vctx_pop(v, o2);
	}
	if (!(a = json_object_get(j, "listeners")))
		goto out;
	vctx_push_key(v, "listeners");
	if (!expect_type(v, a, JSON_ARRAY, "an array of listeners"))
		goto out;
	p->listeners = calloc(json_array_size(a) + 1, sizeof(*p->listeners));
	if (!p->listeners) {
		v->oom = true;
		goto out;
	}
	json_array_foreach (a, i, e) {
		size_t o2 = vctx_push_index(v, i);
		struct shunt_listener *l = &p->listeners[p->n_listeners];
		json_t *u;

		if (!expect_type(v, e, JSON_OBJECT, "a listener object")) {
			vctx_pop(v, o2);
			continue;
		}
		p->n_listeners++;
		check_keys(v, e, lkeys);
		if (json_object_get(e, "name")) {
			l->name = get_string(v, e, "name", false, NULL);
		} else {
			char nm[32];

			snprintf(nm, sizeof(nm), "listener%zu", i);
			l->name = xstrdup(nm);
		}
		if (!json_object_get(e, "address"))
			verr(v, "missing required key 'address'");
		else
			parse_addr_member(v, e, "address", &l->address, &l->address_len, &ok);
		u = json_object_get(e, "upstream");
		l->upstream_original_dst = true;
		if (u && !(json_is_string(u) && !strcmp(json_string_value(u), "original-dst"))) {
			l->upstream_original_dst = false;
			parse_addr_member(v, e, "upstream", &l->upstream, &l->upstream_len, &ok);
		}
		if ((u = json_object_get(e, "mode"))) {
			size_t o3 = vctx_push_key(v, "mode");
			const char *s = json_is_string(u) ? json_string_value(u) : "";

			if (!strcmp(s, "http"))
				l->mode = SHUNT_LISTENER_HTTP;
			else if (!strcmp(s, "tcp"))
				l->mode = SHUNT_LISTENER_TCP;
			else
				verr(v, "expected \"http\" or \"tcp\"");
			vctx_pop(v, o3);
		}
		l->enforce = get_bool(v, e, "enforce", true);
		for (size_t k = 0; k + 1 < p->n_listeners; k++) {
			struct shunt_listener *x = &p->listeners[k];
			size_t o3;

			if (l->name && x->name && !strcmp(l->name, x->name)) {
				o3 = vctx_push_key(v, "name");
				verr(v, "duplicate listener name '%s'", l->name);
				vctx_pop(v, o3);
			}
			if (l->address_len && l->address_len == x->address_len &&
			    !memcmp(&l->address, &x->address, l->address_len)) {
				o3 = vctx_push_key(v, "address");
				verr(v, "address already used by listener '%s'",
				     x->name ? x->name : "?");
				vctx_pop(v, o3);
			}
		}
		vctx_pop(v, o2);
	}
out:
	vctx_pop(v, old);
}

static void parse_accelerate(struct vctx *v, json_t *root, struct shunt_accelerate_config *ac)
{
	static const char *const keys[] = {"cgroup", "excludePorts", "includeCidrs", "excludeCidrs",
					   NULL};
	json_t *j = json_object_get(root, "accelerate");
	size_t old;

	if (!j) {
		ac->cgroup = xstrdup("/sys/fs/cgroup/unified/kubepods");
		return;
	}
	old = vctx_push_key(v, "accelerate");
	if (expect_type(v, j, JSON_OBJECT, "an object")) {
		size_t o2;

		check_keys(v, j, keys);
		ac->cgroup = get_string(v, j, "cgroup", false, "/sys/fs/cgroup/unified/kubepods");
		o2 = vctx_push_key(v, "cgroup");
		if (ac->cgroup && json_object_get(j, "cgroup"))
			check_abs_path(v, ac->cgroup);
		vctx_pop(v, o2);
		get_portlist(v, j, "excludePorts", &ac->exclude_ports);
		get_cidrlist(v, j, "includeCidrs", &ac->include_cidrs);
		get_cidrlist(v, j, "excludeCidrs", &ac->exclude_cidrs);
	}
	vctx_pop(v, old);
}

void shunt_config_free(struct shunt_config *c)
{
	if (!c)
		return;
	free(c->source);
	for (size_t i = 0; i < c->n_workloads; i++)
		workload_free(&c->workloads[i]);
	free(c->workloads);
	for (size_t i = 0; i < c->n_policies; i++)
		authz_policy_free(&c->policies[i]);
	free(c->policies);
	for (size_t i = 0; i < c->n_services; i++)
		service_free(&c->services[i]);
	free(c->services);
	for (size_t i = 0; i < c->proxy.n_listeners; i++)
		free(c->proxy.listeners[i].name);
	free(c->proxy.listeners);
	free(c->proxy.access_log);
	free(c->accelerate.cgroup);
	free(c->accelerate.exclude_ports.v);
	free(c->accelerate.include_cidrs.v);
	free(c->accelerate.exclude_cidrs.v);
	capture_config_free(&c->capture);
	free(c->options.root_namespace);
	strlist_free(&c->options.extra_root_namespaces);
	free(c->options.trust_domain);
	strlist_free(&c->options.trust_domain_aliases);
	free(c);
}

/* jansson parse with our diagnostics; *root NULL on error. */
int config_parse_text(const char *text, size_t len, const char *name, json_t **root,
		      struct shunt_diags *d)
{
	json_error_t e;
	size_t i;

	*root = NULL;
	for (i = 0; i < len && strchr(" \t\r\n", text[i]); i++)
		;
	if (i == len) {
		shunt_diags_add(d, name, 1, 1, "$", "empty file; expected a JSON object");
		return -EINVAL;
	}
	*root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (!*root) {
		shunt_diags_add(d, name, e.line, e.column, "$", "invalid JSON: %s", e.text);
		return json_error_code(&e) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	}
	return 0;
}

static int diag_pos_cmp(const void *a, const void *b)
{
	const struct shunt_diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

/* Orders diagnostics by position (insertion sort: stable, lists are short). */
void diags_sort(struct shunt_diags *d, size_t first)
{
	for (size_t i = first + 1; i < d->n; i++) {
		struct shunt_diag tmp = d->v[i];
		size_t j = i;

		while (j > first && diag_pos_cmp(&d->v[j - 1], &tmp) > 0) {
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = tmp;
	}
}

int shunt_config_load_string(const char *json, const char *name, struct shunt_config **out,
			     struct shunt_diags *d)
{
	static const char *const keys[] = {"workloads",	 "authorizationPolicies",
					   "services",	 "proxy",
					   "accelerate", "capture",
					   "options",	 NULL};
	struct vctx v = {.file = name ? name : "<config>", .d = d};
	size_t first = d ? d->n : 0;
	struct shunt_config *c = NULL;
	json_t *root = NULL;
	int err;

	*out = NULL;
	strcpy(v.path, "$");
	v.plen = 1;
	err = config_parse_text(json, strlen(json), v.file, &root, d);
	if (err)
		goto cleanup;
	if (!json_is_object(root)) {
		verr(&v, "expected a JSON object with keys workloads, authorizationPolicies, "
			 "services, proxy, accelerate, capture, options");
		err = -EINVAL;
		goto cleanup;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->source = xstrdup(v.file);
	check_keys(&v, root, keys);
	parse_options(&v, root, &c->options);
	parse_workloads(&v, root, c);
	parse_policies(&v, root, c);
	parse_services(&v, root, c);
	parse_proxy(&v, root, &c->proxy);
	parse_accelerate(&v, root, &c->accelerate);
	parse_capture(&v, root, &c->capture);
	if (v.oom)
		err = -ENOMEM;
	else if (v.nerr)
		err = -EINVAL;
cleanup:
	if (d) {
		jpos_resolve(json, strlen(json), d, first);
		diags_sort(d, first);
	}
	json_decref(root);
	if (err) {
		shunt_config_free(c);
		return err;
	}
	*out = c;
	return 0;
}

int shunt_config_check_mode(const char *path, unsigned int mode, struct shunt_diags *d)
{
	if (!(mode & S_IWOTH))
		return 0;
	shunt_diags_add(d, path, 0, 0, "$",
			"writable by others (mode %04o); refusing it (chmod o-w)", mode & 07777);
	return -EPERM;
}

/* Reads a whole file; diagnostics name it. With check_mode, a file writable
 * by others (after following symlinks) is refused with -EPERM. */
int read_text_file(const char *path, char **text, struct shunt_diags *d, bool check_mode);
int read_text_file(const char *path, char **text, struct shunt_diags *d, bool check_mode)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	struct stat st;
	int err = 0;

	*text = NULL;
	if (!f) {
		err = -errno;
		shunt_diags_add(d, path, 0, 0, "$", "cannot open: %s", strerror(-err));
		return err;
	}
	/* fstat of the opened file: the mode checked is that of what is read */
	if (check_mode) {
		if (fstat(fileno(f), &st)) {
			err = -errno;
			shunt_diags_add(d, path, 0, 0, "$", "cannot stat: %s", strerror(-err));
			goto cleanup;
		}
		err = shunt_config_check_mode(path, (unsigned int)st.st_mode, d);
		if (err)
			goto cleanup;
	}
	for (;;) {
		size_t r;

		if (cap - n < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		err = -EIO;
		shunt_diags_add(d, path, 0, 0, "$", "read error");
		goto cleanup;
	}
	if (memchr(buf, '\0', n)) {
		err = -EINVAL;
		shunt_diags_add(d, path, 0, 0, "$", "file contains a NUL byte; expected JSON text");
		goto cleanup;
	}
	buf[n] = '\0';
	*text = buf;
	buf = NULL;
cleanup:
	free(buf);
	fclose(f);
	return err;
}

int shunt_config_load_file(const char *path, struct shunt_config **out, struct shunt_diags *d)
{
	char *text;
	int err;

	*out = NULL;
	err = read_text_file(path, &text, d, true);
	if (err)
		return err;
	err = shunt_config_load_string(text, path, out, d);
	free(text);
	return err;
}
