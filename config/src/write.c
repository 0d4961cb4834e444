// SPDX-License-Identifier: Apache-2.0
/* Native JSON form of the policies (so that imports can be saved). */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static json_t *jstrlist(const struct shunt_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static json_t *jcidrs(const struct shunt_cidrlist *l)
{
	json_t *a = json_array();
	char buf[64];

	for (size_t i = 0; a && i < l->n; i++) {
		cidr_format(&l->v[i], buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static json_t *jports(const struct shunt_portlist *l)
{
	json_t *a = json_array();
	char buf[8];

	for (size_t i = 0; a && i < l->n; i++) {
		snprintf(buf, sizeof(buf), "%u", l->v[i]);
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static void put_strlist(json_t *o, const char *k, const struct shunt_strlist *l)
{
	if (l->n)
		json_object_set_new(o, k, jstrlist(l));
}

static json_t *policy_json(const struct shunt_authz_policy *p)
{
	static const char *const actions[] = {"ALLOW", "DENY", "AUDIT"};
	json_t *o = json_object(), *spec = json_object(), *rules = json_array();

	json_object_set_new(o, "apiVersion", json_string("security.istio.io/v1"));
	json_object_set_new(o, "kind", json_string("AuthorizationPolicy"));
	json_object_set_new(o, "metadata",
			    json_pack("{s:s, s:s}", "name", p->name, "namespace", p->ns));
	if (p->has_selector) {
		json_t *ml = json_object();

		for (size_t i = 0; i < p->n_match_labels; i++)
			json_object_set_new(ml, p->match_labels[i].key,
					    json_string(p->match_labels[i].value));
		json_object_set_new(spec, "selector", json_pack("{s:o}", "matchLabels", ml));
	}
	json_object_set_new(spec, "action", json_string(actions[p->action]));
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct shunt_rule *r = &p->rules[i];
		json_t *rj = json_object();

		if (r->n_from) {
			json_t *from = json_array();

			for (size_t k = 0; k < r->n_from; k++) {
				const struct shunt_source *s = &r->from[k];
				json_t *sj = json_object();

				put_strlist(sj, "principals", &s->principals);
				put_strlist(sj, "notPrincipals", &s->not_principals);
				put_strlist(sj, "namespaces", &s->namespaces);
				put_strlist(sj, "notNamespaces", &s->not_namespaces);
				if (s->ip_blocks.n)
					json_object_set_new(sj, "ipBlocks", jcidrs(&s->ip_blocks));
				if (s->not_ip_blocks.n)
					json_object_set_new(sj, "notIpBlocks",
							    jcidrs(&s->not_ip_blocks));
				json_array_append_new(from, json_pack("{s:o}", "source", sj));
			}
			json_object_set_new(rj, "from", from);
		}
		if (r->n_to) {
			json_t *to = json_array();

			for (size_t k = 0; k < r->n_to; k++) {
				const struct shunt_operation *op = &r->to[k];
				json_t *oj = json_object();

				put_strlist(oj, "hosts", &op->hosts);
				put_strlist(oj, "notHosts", &op->not_hosts);
				if (op->ports.n)
					json_object_set_new(oj, "ports", jports(&op->ports));
				if (op->not_ports.n)
					json_object_set_new(oj, "notPorts", jports(&op->not_ports));
				put_strlist(oj, "methods", &op->methods);
				put_strlist(oj, "notMethods", &op->not_methods);
				put_strlist(oj, "paths", &op->paths);
				put_strlist(oj, "notPaths", &op->not_paths);
				json_array_append_new(to, json_pack("{s:o}", "operation", oj));
			}
			json_object_set_new(rj, "to", to);
		}
		if (r->n_when) {
			static const char *const keys[] = {"source.ip", "source.namespace",
							   "source.principal", "destination.port"};
			json_t *when = json_array();

			for (size_t k = 0; k < r->n_when; k++) {
				json_t *cj = json_pack("{s:s}", "key", keys[r->when[k].key]);

				put_strlist(cj, "values", &r->when[k].values);
				put_strlist(cj, "notValues", &r->when[k].not_values);
				json_array_append_new(when, cj);
			}
			json_object_set_new(rj, "when", when);
		}
		json_array_append_new(rules, rj);
	}
	if (p->n_rules)
		json_object_set_new(spec, "rules", rules);
	else
		json_decref(rules);
	json_object_set_new(o, "spec", spec);
	return o;
}

int shunt_config_write_policies(const struct shunt_config *c, FILE *f)
{
	json_t *root = json_object(), *a = json_array();
	int err = 0;

	if (!root || !a) {
		json_decref(root);
		json_decref(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_policies; i++)
		json_array_append_new(a, policy_json(&c->policies[i]));
	json_object_set_new(root, "authorizationPolicies", a);
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) || fputc('\n', f) == EOF)
		err = -EIO;
	json_decref(root);
	return err;
}
