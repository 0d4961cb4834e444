// SPDX-License-Identifier: Apache-2.0
/*
 * Every configuration error: exact message text with line, column and JSON
 * path. Each case is a config and the full diagnostic output expected.
 */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "shunt/config.h"
#include "shunt/policy.h"

struct ecase {
	const char *json;
	const char *want; /* exact output of shunt_diags_print; NULL: must load */
};

#define POL(spec)                                                           \
	"{\"authorizationPolicies\": [\n"                                   \
	"  {\"metadata\": {\"name\": \"p\", \"namespace\": \"default\"},\n" \
	"   \"spec\": " spec "}\n"                                          \
	"]}\n"

static const struct ecase cases[] = {
	/* syntax and shape */
	{"", "t.json:1:1: $: empty file; expected a JSON object\n"},
	{"  \n ", "t.json:1:1: $: empty file; expected a JSON object\n"},
	{"{\n  \"proxy\": {,}\n}",
	 "t.json:2:13: $: invalid JSON: string or '}' expected near ','\n"},
	{"[]", "t.json:1:1: $: expected a JSON object with keys workloads, authorizationPolicies, "
	       "services, proxy, accelerate, capture, options\n"},
	{"{\"a\": 1, \"a\": 2}",
	 "t.json:1:12: $: invalid JSON: duplicate object key near '\"a\"'\n"},
	{"{}", NULL},
	/* unknown keys, with and without suggestion */
	{"{\n  \"workload\": []\n}",
	 "t.json:2:3: $.workload: unknown key 'workload'; did you mean 'workloads'?\n"},
	{"{\"zzz\": 1}", "t.json:1:2: $.zzz: unknown key 'zzz'; expected one of 'workloads', "
			 "'authorizationPolicies', 'services', 'proxy', 'accelerate', 'capture', "
			 "'options'\n"},
	{POL("{\"acton\": \"DENY\"}"), "t.json:3:13: $.authorizationPolicies[0].spec.acton: "
				       "unknown key 'acton'; did you mean 'action'?\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"method\": [\"GET\"]}}]}]}"),
	 "t.json:3:46: $.authorizationPolicies[0].spec.rules[0].to[0].operation.method: unknown "
	 "key 'method'; did you mean 'methods'?\n"},
	{POL("{\"rules\": [{\"from\": [{\"source\": {\"principal\": [\"a\"]}}]}]}"),
	 "t.json:3:45: $.authorizationPolicies[0].spec.rules[0].from[0].source.principal: unknown "
	 "key 'principal'; did you mean 'principals'?\n"},
	{"{\"workloads\": [{\"name\": \"a\", \"lables\": {}}]}",
	 "t.json:1:30: $.workloads[0].lables: unknown key 'lables'; did you mean 'labels'?\n"},
	/* escaped keys resolve to the same position as raw ones */
	{"{\n \"w\\u00f6rkloads\": [],\n \"pr\\u006fxy\": 1}",
	 "t.json:2:2: $[\"w\xc3\xb6rkloads\"]: unknown key 'w\xc3\xb6rkloads'; did you mean "
	 "'workloads'?\n"
	 "t.json:3:16: $.proxy: expected an object, got an integer\n"},
	/* actions and unsupported features */
	{POL("{\"action\": \"CUSTOM\"}"),
	 "t.json:3:23: $.authorizationPolicies[0].spec.action: action CUSTOM (external "
	 "authorization) is not supported by shunt; expected ALLOW, DENY or AUDIT\n"},
	{POL("{\"action\": \"deny\"}"), "t.json:3:23: $.authorizationPolicies[0].spec.action: "
					"unknown action 'deny'; expected ALLOW, DENY or AUDIT\n"},
	{POL("{\"action\": \"CUSTOM\", \"provider\": {\"name\": \"x\"}}"),
	 "t.json:3:23: $.authorizationPolicies[0].spec.action: action CUSTOM (external "
	 "authorization) is not supported by shunt; expected ALLOW, DENY or AUDIT\n"
	 "t.json:3:33: $.authorizationPolicies[0].spec.provider: 'provider' belongs to action "
	 "CUSTOM, which shunt does not support\n"},
	{POL("{\"rules\": [{\"from\": [{\"source\": {\"requestPrincipals\": [\"*\"]}}]}]}"),
	 "t.json:3:45: $.authorizationPolicies[0].spec.rules[0].from[0].source.requestPrincipals: "
	 "'requestPrincipals' (JWT request principals) is not supported by shunt; remove it or use "
	 "principals\n"},
	{POL("{\"rules\": [{\"from\": [{\"source\": {\"remoteIpBlocks\": [\"1.2.3.4\"]}}]}]}"),
	 "t.json:3:45: $.authorizationPolicies[0].spec.rules[0].from[0].source.remoteIpBlocks: "
	 "'remoteIpBlocks' needs X-Forwarded-For, which shunt never trusts; use ipBlocks\n"},
	{POL("{\"rules\": [{\"when\": [{\"key\": \"request.auth.claims[iss]\", \"values\": "
	     "[\"x\"]}]}]}"),
	 "t.json:3:41: $.authorizationPolicies[0].spec.rules[0].when[0].key: condition "
	 "'request.auth.claims[iss]' (JWT claims) is not supported by shunt\n"},
	{POL("{\"rules\": [{\"when\": [{\"key\": \"request.headers[x-user]\", \"values\": "
	     "[\"x\"]}]}]}"),
	 "t.json:3:41: $.authorizationPolicies[0].spec.rules[0].when[0].key: condition "
	 "'request.headers[x-user]': request headers are never trusted by shunt\n"},
	{POL("{\"rules\": [{\"when\": [{\"key\": \"experimental.envoy.filters.x\", \"values\": "
	     "[\"x\"]}]}]}"),
	 "t.json:3:41: $.authorizationPolicies[0].spec.rules[0].when[0].key: condition key "
	 "'experimental.envoy.filters.x' cannot be evaluated by shunt; expected source.ip, "
	 "source.namespace, source.principal or destination.port\n"},
	{POL("{\"targetRef\": {\"kind\": \"Gateway\", \"name\": \"g\"}}"),
	 "t.json:3:13: $.authorizationPolicies[0].spec.targetRef: 'targetRef' (attaching to "
	 "gateways/services) is not supported; use 'selector'\n"},
	/* values */
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/a/*/b\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern '/a/*/b': '*' is only allowed at the start or the end (use {*} or {**} for "
	 "segments)\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/a/x{*}\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern '/a/x{*}': templates must be whole segments {*} or {**}, and cannot be mixed "
	 "with '*'\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/a/{**}/b\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern '/a/{**}/b': {**} must be the last segment\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"a/b\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern 'a/b': a path must start with '/' (or be \"*\", \"*suffix\")\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/a/../b\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern '/a/../b': not a normalized path (contains '//' or dot segments), so it can "
	 "never match\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/a?x\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern '/a?x': '?' and '#' never occur in a normalized path (the query is not "
	 "matched)\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"ports\": [\"0\", \"65536\", \"http\", 80, "
	     "true]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.ports[0]: port 0 "
	 "is out of range; expected 1..65535\n"
	 "t.json:3:61: $.authorizationPolicies[0].spec.rules[0].to[0].operation.ports[1]: port "
	 "65536 is out of range; expected 1..65535\n"
	 "t.json:3:70: $.authorizationPolicies[0].spec.rules[0].to[0].operation.ports[2]: port "
	 "'http' is not a number; expected a port 1..65535\n"
	 "t.json:3:82: $.authorizationPolicies[0].spec.rules[0].to[0].operation.ports[4]: expected "
	 "a port (string or integer 1..65535), got a boolean\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"methods\": [\"get\"]}}]}]}"),
	 "t.json:3:58: $.authorizationPolicies[0].spec.rules[0].to[0].operation.methods[0]: method "
	 "'get' is not upper-case; methods match exactly and case-sensitively (e.g. \"GET\")\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"methods\": []}}]}]}"),
	 "t.json:3:57: $.authorizationPolicies[0].spec.rules[0].to[0].operation.methods: empty "
	 "list; omit 'methods' or give at least one value\n"},
	{POL("{\"rules\": [{\"from\": [{\"source\": {\"ipBlocks\": [\"10.0.0.1/8\", "
	     "\"10.0.0.0/33\", \"fd00::/129\", \"10.0.0\", \"::1\"]}}]}]}"),
	 "t.json:3:58: $.authorizationPolicies[0].spec.rules[0].from[0].source.ipBlocks[0]: bad "
	 "CIDR '10.0.0.1/8': host bits are set after the prefix length; expected e.g. "
	 "\"10.0.0.0/8\" or \"fd00::/64\"\n"
	 "t.json:3:72: $.authorizationPolicies[0].spec.rules[0].from[0].source.ipBlocks[1]: bad "
	 "CIDR '10.0.0.0/33': prefix length out of range (0..32); expected e.g. \"10.0.0.0/8\" or "
	 "\"fd00::/64\"\n"
	 "t.json:3:87: $.authorizationPolicies[0].spec.rules[0].from[0].source.ipBlocks[2]: bad "
	 "CIDR 'fd00::/129': prefix length out of range (0..128); expected e.g. \"10.0.0.0/8\" or "
	 "\"fd00::/64\"\n"
	 "t.json:3:101: $.authorizationPolicies[0].spec.rules[0].from[0].source.ipBlocks[3]: bad "
	 "CIDR '10.0.0': not an IPv4 or IPv6 address; expected e.g. \"10.0.0.0/8\" or "
	 "\"fd00::/64\"\n"},
	{POL("{\"rules\": [{\"from\": [{\"source\": {\"principals\": [\"a*b\"]}}]}]}"),
	 "t.json:3:60: $.authorizationPolicies[0].spec.rules[0].from[0].source.principals[0]: "
	 "'a*b': '*' is only allowed alone, at the start or at the end\n"},
	{POL("{\"rules\": [{\"from\": [{\"principals\": [\"a\"]}]}]}"),
	 "t.json:3:33: $.authorizationPolicies[0].spec.rules[0].from[0]: missing required key "
	 "'source'\n"
	 "t.json:3:34: $.authorizationPolicies[0].spec.rules[0].from[0].principals: unknown key "
	 "'principals'; expected one of 'source'\n"},
	{POL("{\"rules\": {}}"), "t.json:3:22: $.authorizationPolicies[0].spec.rules: expected an "
				 "array of rules, got an object\n"},
	{"{\"authorizationPolicies\": [{\"spec\": {}}]}",
	 "t.json:1:28: $.authorizationPolicies[0]: missing required key 'metadata' (with name and "
	 "namespace)\n"},
	{"{\"authorizationPolicies\": [{\"metadata\": {\"namespace\": \"x\"}}]}",
	 "t.json:1:41: $.authorizationPolicies[0].metadata: missing required key 'name'\n"},
	{"{\"authorizationPolicies\": [{\"metadata\": {\"name\": \"Bad_Name\"}}]}",
	 "t.json:1:50: $.authorizationPolicies[0].metadata.name: 'Bad_Name' is not a valid name; "
	 "expected lower-case letters, digits, '-' and '.'\n"},
	{"{\"authorizationPolicies\": [\n"
	 "  {\"metadata\": {\"name\": \"p\"}},\n"
	 "  {\"metadata\": {\"name\": \"p\", \"namespace\": \"default\"}}]}",
	 "t.json:3:3: $.authorizationPolicies[1]: duplicate policy 'default/p' (first defined at "
	 "$.authorizationPolicies[0])\n"},
	{"{\"authorizationPolicies\": [{\"apiVersion\": \"security.istio.io/v2\", \"kind\": "
	 "\"Foo\", \"metadata\": {\"name\": \"p\"}}]}",
	 "t.json:1:43: $.authorizationPolicies[0].apiVersion: unsupported apiVersion; expected "
	 "\"security.istio.io/v1\" or \"security.istio.io/v1beta1\"\n"
	 "t.json:1:75: $.authorizationPolicies[0].kind: expected \"AuthorizationPolicy\"\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/%72x\", \"/a%3b\", \"/a%2F\", "
	     "\"/a%3B\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]: bad path "
	 "pattern '/%72x': escapes an unreserved character, which normalization decodes; write the "
	 "character itself\n"
	 "t.json:3:65: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[1]: bad path "
	 "pattern '/a%3b': a '%' must start an escape with two upper-case hex digits (e.g. %3B)\n"
	 "t.json:3:74: $.authorizationPolicies[0].spec.rules[0].to[0].operation.paths[2]: bad path "
	 "pattern '/a%2F': escaped slashes and control characters never reach matching\n"},
	{POL("{\"rules\": [{\"from\": [{\"source\": {\"principals\": "
	     "[\"spiffe://cluster.local/ns/a/sa/b\"]}}]}]}"),
	 "t.json:3:60: $.authorizationPolicies[0].spec.rules[0].from[0].source.principals[0]: "
	 "'spiffe://cluster.local/ns/a/sa/b': principals are written without 'spiffe://' (e.g. "
	 "\"cluster.local/ns/default/sa/app\")\n"},
	/* workloads */
	{"{\"workloads\": [\n"
	 "  {\"name\": \"a\", \"addresses\": [\"10.0.0.1\"]},\n"
	 "  {\"name\": \"a\", \"addresses\": [\"10.0.0.1\", \"10.1.0.0/16\"]}]}",
	 "t.json:3:12: $.workloads[1].name: duplicate workload 'default/a' (also $.workloads[0])\n"
	 "t.json:3:31: $.workloads[1].addresses[0]: address 10.0.0.1 already belongs to workload "
	 "'default/a'\n"},
	{"{\"workloads\": [{\"namespace\": \"x\"}]}",
	 "t.json:1:16: $.workloads[0]: missing required key 'name'\n"},
	{"{\"workloads\": [{\"name\": \"a\", \"labels\": {\"app\": 1}, \"cgroups\": [\"pod\"]}]}",
	 "t.json:1:48: $.workloads[0].labels.app: expected a string label value, got an integer\n"
	 "t.json:1:64: $.workloads[0].cgroups[0]: 'pod' is not an absolute path; expected a path "
	 "starting with '/'\n"},
	{"{\"workloads\": {}}",
	 "t.json:1:15: $.workloads: expected an array of workloads, got an object\n"},
	/* proxy */
	{"{\"proxy\": {\"listeners\": [{\"address\": \"127.0.0.1\"}, {\"address\": "
	 "\"1.2.3.4:0\"},\n"
	 " {\"address\": \"[::1]:80\", \"upstream\": \"localhost:80\"}, {\"name\": \"x\"}]}}",
	 "t.json:1:38: $.proxy.listeners[0].address: bad address '127.0.0.1': expected "
	 "\"IPv4:port\" or \"[IPv6]:port\"\n"
	 "t.json:1:64: $.proxy.listeners[1].address: bad address '1.2.3.4:0': port out of range "
	 "(1..65535)\n"
	 "t.json:2:38: $.proxy.listeners[2].upstream: bad address 'localhost:80': not an IPv4 "
	 "address (write IPv6 as \"[addr]:port\")\n"
	 "t.json:2:55: $.proxy.listeners[3]: missing required key 'address'\n"},
	{"{\"proxy\": {\"listeners\": [{\"address\": \"127.0.0.1:1\"}, {\"address\": "
	 "\"127.0.0.1:1\"}]}}",
	 "t.json:1:66: $.proxy.listeners[1].address: address already used by listener "
	 "'listener0'\n"},
	{"{\"proxy\": {\"workers\": 0, \"limits\": {\"maxHeaders\": \"5\", \"maxHeaderBytes\": "
	 "10}}}",
	 "t.json:1:23: $.proxy.workers: 0 is out of range; expected 1..256\n"
	 "t.json:1:51: $.proxy.limits.maxHeaders: expected an integer in 1..10000, got a string\n"
	 "t.json:1:74: $.proxy.limits.maxHeaderBytes: 10 is out of range; expected "
	 "1024..1048576\n"},
	{"{\"proxy\": {\"limits\": {\"maxHeaderByte\": 1}}}",
	 "t.json:1:23: $.proxy.limits.maxHeaderByte: unknown key 'maxHeaderByte'; did you mean "
	 "'maxHeaderBytes'?\n"},
	/* accelerate, options */
	{"{\"accelerate\": {\"excludePorts\": [70000], \"excludeCidrs\": [\"x\"]}}",
	 "t.json:1:34: $.accelerate.excludePorts[0]: port 70000 is out of range; expected "
	 "1..65535\n"
	 "t.json:1:59: $.accelerate.excludeCidrs[0]: bad CIDR 'x': not an IPv4 or IPv6 address; "
	 "expected e.g. \"10.0.0.0/8\" or \"fd00::/64\"\n"},
	{"{\"options\": {\"escapedSlashes\": \"merge\", \"caseInsensitivePaths\": \"yes\"}}",
	 "t.json:1:32: $.options.escapedSlashes: expected \"reject\" or \"decode-and-merge\"\n"
	 "t.json:1:65: $.options.caseInsensitivePaths: expected true or false, got a string\n"},
	/* capture section and per-workload capture (issue 6) */
	{"{\"capture\": {\"mode\": \"ISTIO\", \"proxyUid\": -1, \"proxyMark\": \"1\",\n"
	 " \"outboundPort\": 15006, \"inboundPort\": 15006, \"inboundCapture\": 1}}",
	 "t.json:1:22: $.capture.mode: expected \"off\", \"l7\" or \"istio\"\n"
	 "t.json:1:43: $.capture.proxyUid: -1 is out of range; expected 0..4294967294\n"
	 "t.json:1:60: $.capture.proxyMark: expected an integer in 0..4294967295, got a string\n"
	 "t.json:2:40: $.capture.inboundPort: inboundPort must differ from outboundPort (15006)\n"
	 "t.json:2:65: $.capture.inboundCapture: expected true or false, got an integer\n"},
	{"{\"capture\": {\"includeOutboundCidrs\": [\"*\", \"10.0.0.0/8\"],\n"
	 " \"excludeOutboundCidrs\": [\"10.0.0.1/8\"], \"proxyCgroups\": [\"rel\"],\n"
	 " \"excludeInboundPorts\": [0], \"l4policy\": false}}",
	 "t.json:1:39: $.capture.includeOutboundCidrs[0]: \"*\" (everything) must be the only "
	 "entry\n"
	 "t.json:2:27: $.capture.excludeOutboundCidrs[0]: bad CIDR '10.0.0.1/8': host bits are set "
	 "after the prefix length; expected e.g. \"10.0.0.0/8\" or \"fd00::/64\"\n"
	 "t.json:2:59: $.capture.proxyCgroups[0]: 'rel' is not an absolute path; expected a path "
	 "starting with '/'\n"
	 "t.json:3:26: $.capture.excludeInboundPorts[0]: port 0 is out of range; expected "
	 "1..65535\n"
	 "t.json:3:30: $.capture.l4policy: unknown key 'l4policy'; did you mean 'l4Policy'?\n"},
	{"{\"capture\": {\"includeOutboundCidrs\": [\"10.0.0.0/33\", 5]}}",
	 "t.json:1:39: $.capture.includeOutboundCidrs[0]: bad CIDR '10.0.0.0/33': prefix length "
	 "out of range (0..32); expected e.g. \"10.0.0.0/8\", \"fd00::/64\" or \"*\"\n"
	 "t.json:1:54: $.capture.includeOutboundCidrs[1]: expected a CIDR string such as "
	 "\"10.0.0.0/8\" or \"*\", got an integer\n"},
	{"{\"capture\": []}", "t.json:1:13: $.capture: expected an object, got an array\n"},
	{"{\"workloads\": [{\"name\": \"a\", \"sidecar\": \"no\",\n"
	 " \"capture\": {\"includeInboundPorts\": [\"http\"], \"excludeOutboundIPRanges\": []}},\n"
	 " {\"name\": \"b\", \"sidecar\": false, \"capture\": {}}]}",
	 "t.json:1:41: $.workloads[0].sidecar: expected true or false, got a string\n"
	 "t.json:2:38: $.workloads[0].capture.includeInboundPorts[0]: port 'http' is not a number; "
	 "expected a port 1..65535\n"
	 "t.json:2:47: $.workloads[0].capture.excludeOutboundIPRanges: unknown key "
	 "'excludeOutboundIPRanges'; expected one of 'includeInboundPorts', 'excludeInboundPorts', "
	 "'excludeOutboundPorts', 'includeOutboundPorts', 'includeOutboundCidrs', "
	 "'excludeOutboundCidrs'\n"
	 "t.json:3:45: $.workloads[1].capture: a workload with \"sidecar\": false is never "
	 "captured; remove 'capture' or the sidecar setting\n"},
	{"{\"capture\": {\"mode\": \"istio\", \"proxyUid\": null, \"includeOutboundCidrs\": [],\n"
	 " \"l7Proxy\": false},\n"
	 " \"workloads\": [{\"name\": \"a\", \"sidecar\": true, \"capture\": "
	 "{\"includeInboundPorts\": "
	 "[\"*\"], \"includeOutboundCidrs\": [\"fd00::/8\", \"10.1.0.0/16\"]}}]}",
	 NULL},
	/* includeOutboundPorts (global and per workload); excludeOutboundCidrs []
	 * is accepted per workload only (it clears the global list there) */
	{"{\"capture\": {\"includeOutboundPorts\": [\"https\", 0, 70000], "
	 "\"excludeOutboundCidrs\": []},\n"
	 " \"workloads\": [{\"name\": \"a\", \"capture\": {\"includeOutboundPorts\": [], "
	 "\"excludeOutboundCidrs\": \"10.0.0.0/8\"}},\n"
	 " {\"name\": \"b\", \"capture\": {\"includeOutboundPorts\": [443, \"8443\"], "
	 "\"excludeOutboundCidrs\": [5]}}]}",
	 "t.json:1:39: $.capture.includeOutboundPorts[0]: port 'https' is not a number; expected a "
	 "port 1..65535\n"
	 "t.json:1:48: $.capture.includeOutboundPorts[1]: port 0 is out of range; expected "
	 "1..65535\n"
	 "t.json:1:51: $.capture.includeOutboundPorts[2]: port 70000 is out of range; expected "
	 "1..65535\n"
	 "t.json:1:83: $.capture.excludeOutboundCidrs: empty list; omit 'excludeOutboundCidrs' or "
	 "give at least one value\n"
	 "t.json:2:66: $.workloads[0].capture.includeOutboundPorts: empty list; omit "
	 "'includeOutboundPorts' or give at least one value\n"
	 "t.json:2:94: $.workloads[0].capture.excludeOutboundCidrs: expected an array of CIDR "
	 "strings, got a string\n"
	 "t.json:3:92: $.workloads[1].capture.excludeOutboundCidrs[0]: expected a CIDR string such "
	 "as \"10.0.0.0/8\", got an integer\n"},
	{"{\"capture\": {\"mode\": \"istio\", \"includeOutboundPorts\": [443]},\n"
	 " \"workloads\": [{\"name\": \"a\", \"capture\": {\"includeOutboundPorts\": [8443], "
	 "\"excludeOutboundCidrs\": []}}]}",
	 NULL},
	/* remaining messages, one case each */
	{POL("{\"action\": 1, \"rules\": [{\"from\": [], \"to\": [], \"when\": []}]}"),
	 "t.json:3:23: $.authorizationPolicies[0].spec.action: expected ALLOW, DENY or AUDIT, got "
	 "an integer\n"
	 "t.json:3:45: $.authorizationPolicies[0].spec.rules[0].from: empty list; omit 'from' or "
	 "give at least one source\n"
	 "t.json:3:55: $.authorizationPolicies[0].spec.rules[0].to: empty list; omit 'to' or give "
	 "at least one operation\n"
	 "t.json:3:67: $.authorizationPolicies[0].spec.rules[0].when: empty list; omit 'when' or "
	 "give at least one condition\n"},
	{POL("{\"rules\": [{\"to\": [{}], \"when\": [{\"values\": [\"1\"]}, {\"key\": "
	     "\"source.ip\"}, "
	     "{\"key\": \"source.ip\", \"values\": [\"10.0.0.1/8\"]}]}]}"),
	 "t.json:3:31: $.authorizationPolicies[0].spec.rules[0].to[0]: missing required key "
	 "'operation'\n"
	 "t.json:3:45: $.authorizationPolicies[0].spec.rules[0].when[0]: missing required key "
	 "'key'\n"
	 "t.json:3:64: $.authorizationPolicies[0].spec.rules[0].when[1]: condition needs 'values' "
	 "or 'notValues'\n"
	 "t.json:3:118: $.authorizationPolicies[0].spec.rules[0].when[2].values[0]: bad IP or CIDR "
	 "'10.0.0.1/8': host bits are set after the prefix length\n"},
	{POL("{\"rules\": [{\"to\": [{\"operation\": {\"hosts\": [\"a b\", \"x*y\", \"\"], "
	     "\"methods\": [\"G(T\"]}}]}]}"),
	 "t.json:3:56: $.authorizationPolicies[0].spec.rules[0].to[0].operation.hosts[0]: host 'a "
	 "b' contains an invalid character; expected e.g. \"api.example.com\" or "
	 "\"*.example.com\"\n"
	 "t.json:3:63: $.authorizationPolicies[0].spec.rules[0].to[0].operation.hosts[1]: 'x*y': "
	 "'*' is only allowed alone, at the start or at the end\n"
	 "t.json:3:70: $.authorizationPolicies[0].spec.rules[0].to[0].operation.hosts[2]: must not "
	 "be empty\n"
	 "t.json:3:87: $.authorizationPolicies[0].spec.rules[0].to[0].operation.methods[0]: method "
	 "'G(T' contains '('; expected an HTTP method token such as \"GET\"\n"},
	{"{\"workloads\": [{\"name\": \"a\", \"labels\": {\"\": \"x\"}, \"cgroups\": [\"/c\"]},\n"
	 " {\"name\": \"b\", \"namespace\": \"N\", \"cgroups\": [\"/c\"], \"serviceAccount\": "
	 "\"\"}]}",
	 "t.json:1:41: $.workloads[0].labels[\"\"]: label key must not be empty\n"
	 "t.json:2:29: $.workloads[1].namespace: 'N' is not a valid name; expected lower-case "
	 "letters, digits, '-' and '.'\n"
	 "t.json:2:46: $.workloads[1].cgroups[0]: cgroup /c already belongs to workload "
	 "'default/a'\n"
	 "t.json:2:71: $.workloads[1].serviceAccount: must not be empty\n"},
	{"{\"proxy\": {\"listeners\": [{\"name\": \"l\", \"address\": \"127.0.0.1:1\"}, "
	 "{\"name\": \"l\", \"address\": \"127.0.0.1:2\"}], \"accessLog\": \"log.txt\"},\n"
	 " \"accelerate\": {\"cgroup\": \"kubepods\"}, \"options\": {\"rootNamespace\": \"Root\"}}",
	 "t.json:1:76: $.proxy.listeners[1].name: duplicate listener name 'l'\n"
	 "t.json:1:122: $.proxy.accessLog: 'log.txt' is not an absolute path; expected a path "
	 "starting with '/'\n"
	 "t.json:2:27: $.accelerate.cgroup: 'kubepods' is not an absolute path; expected a path "
	 "starting with '/'\n"
	 "t.json:2:69: $.options.rootNamespace: 'Root' is not a valid name; expected lower-case "
	 "letters, digits, '-' and '.'\n"},
	{"{\"workloads\": [{\"name\": \"a\\u0000b\"}]}",
	 "t.json:1:34: $: invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near "
	 "'\"a\\u0000b\"'\n"},
	/* listener mode and enforce */
	{"{\"proxy\": {\"listeners\": [{\"address\": \"127.0.0.1:1\", \"mode\": \"udp\"},\n"
	 " {\"address\": \"127.0.0.1:2\", \"mode\": 1, \"enforce\": \"no\"},\n"
	 " {\"address\": \"127.0.0.1:3\", \"mode\": \"TCP\", \"enforce\": false}]}}",
	 "t.json:1:61: $.proxy.listeners[0].mode: expected \"http\" or \"tcp\"\n"
	 "t.json:2:37: $.proxy.listeners[1].mode: expected \"http\" or \"tcp\"\n"
	 "t.json:2:51: $.proxy.listeners[1].enforce: expected true or false, got a string\n"
	 "t.json:3:37: $.proxy.listeners[2].mode: expected \"http\" or \"tcp\"\n"},
	/* labels with dots use bracket paths */
	{"{\"workloads\": [{\"name\": \"a\", \"labels\": {\"app.kubernetes.io/name\": []}}]}",
	 "t.json:1:67: $.workloads[0].labels[\"app.kubernetes.io/name\"]: expected a string label "
	 "value, got an array\n"},
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shunt_diags d = {0};
		struct shunt_config *c = NULL;
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		int err = shunt_config_load_string(cases[i].json, "t.json", &c, &d);

		shunt_diags_print(&d, f);
		fclose(f);
		if (cases[i].want) {
			CHECK(err == -EINVAL && c == NULL, "case %zu: err %d", i, err);
			CHECK(!strcmp(buf, cases[i].want), "case %zu:\n--- got:\n%s--- want:\n%s",
			      i, buf, cases[i].want);
		} else {
			CHECK(err == 0 && c && d.n == 0, "case %zu: err %d:\n%s", i, err, buf);
		}
		free(buf);
		shunt_diags_free(&d);
		shunt_config_free(c);
	}
	{
		/* listener mode and enforce: defaults, explicit values, summary */
		static const char *json =
			"{\"proxy\": {\"listeners\": [{\"address\": \"127.0.0.1:1\"},\n"
			" {\"name\": \"t\", \"address\": \"127.0.0.1:2\", \"upstream\": "
			"\"127.0.0.2:9\", \"mode\": \"tcp\", \"enforce\": false},\n"
			" {\"address\": \"127.0.0.1:3\", \"mode\": \"http\", \"enforce\": true}]}}";
		struct shunt_diags d = {0};
		struct shunt_config *c = NULL;
		struct shunt_policy *p = NULL;
		char *buf = NULL;
		size_t len = 0;
		FILE *f;
		int err = shunt_config_load_string(json, "t.json", &c, &d);

		CHECK(err == 0 && c && c->proxy.n_listeners == 3, "listener modes: err %d", err);
		if (!err) {
			const struct shunt_listener *l = c->proxy.listeners;

			CHECK(l[0].mode == SHUNT_LISTENER_HTTP && l[0].enforce,
			      "listener 0 defaults");
			CHECK(l[1].mode == SHUNT_LISTENER_TCP && !l[1].enforce, "listener 1 tcp");
			CHECK(l[2].mode == SHUNT_LISTENER_HTTP && l[2].enforce,
			      "listener 2 explicit");
			err = shunt_policy_compile(c, &p, &d);
			CHECK(err == 0, "compile %d", err);
			f = open_memstream(&buf, &len);
			CHECK(f && shunt_config_summary(c, p, f) == 0, "summary");
			fclose(f);
			CHECK(buf && strstr(buf,
					    "  listener0 127.0.0.1:1 -> original destination\n"),
			      "summary of listener0:\n%s", buf);
			CHECK(buf && strstr(buf, "  t 127.0.0.1:2 -> 127.0.0.2:9, tcp relay, not "
						 "enforced\n"),
			      "summary of t:\n%s", buf);
		}
		free(buf);
		shunt_policy_free(p);
		shunt_diags_free(&d);
		shunt_config_free(c);
	}
	{
		/* missing file */
		struct shunt_diags d = {0};
		struct shunt_config *c = NULL;
		int err = shunt_config_load_file("/nonexistent/shunt.json", &c, &d);

		CHECK(err == -ENOENT && d.n == 1, "missing file: %d", err);
		CHECK_STR(d.n ? d.v[0].msg : NULL, "cannot open: No such file or directory");
		shunt_diags_free(&d);
	}
	return check_done("test_errors");
}
