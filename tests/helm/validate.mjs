// Validate rendered Kubernetes manifests (a multi-document YAML file from
// `helm template`) against the Kubernetes API schemas shipped by the npm package
// kubernetes-models (and @kubernetes-models/prometheus-operator for ServiceMonitor):
//   1. the models' own JSON-schema validation (types, enums, required fields, formats);
//   2. a strict unknown-field check (what `kubectl apply --validate=strict` rejects),
//      derived from the models' TypeScript declarations: every key of every object
//      must be a field of its API type.
// Also rejects unknown kinds, duplicate kind/name pairs and documents without a name.
//
//   SHUNT_NODE_MODULES=DIR node validate.mjs rendered.yaml [--dump-json OUT]
// Exit 0 when every document is valid; 1 with one line per problem otherwise.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const modulesDir = process.env.SHUNT_NODE_MODULES;
if (!modulesDir || !existsSync(modulesDir)) {
	console.error("validate.mjs: set SHUNT_NODE_MODULES to the helm-tools node_modules dir");
	process.exit(2);
}
const args = process.argv.slice(2);
const file = args[0];
const dumpIdx = args.indexOf("--dump-json");
const require = createRequire(path.join(modulesDir, "noop.js"));
const YAML = require("yaml");

function modelSpec(apiVersion, kind) {
	if (apiVersion.startsWith("monitoring.coreos.com/"))
		return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
	return `kubernetes-models/${apiVersion}/${kind}`;
}

// ---- strict field check from the .d.ts declarations ----
const dtsCache = new Map();

function resolveSpec(fromFile, spec) {
	const base = spec.startsWith(".")
		? path.resolve(path.dirname(fromFile), spec)
		: path.join(modulesDir, spec);
	return base.replace(/\.js$/, "") + ".d.ts";
}

function parseDts(file) {
	if (dtsCache.has(file)) return dtsCache.get(file);
	const text = readFileSync(file, "utf8");
	const imports = new Map();
	for (const m of text.matchAll(/import \{([^}]+)\} from "([^"]+)";/g))
		for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean))
			imports.set(name, resolveSpec(file, m[2]));
	let props = null;
	const lines = text.split("\n");
	const start = lines.findIndex((l) => /^export interface \w+.*\{$/.test(l));
	if (start >= 0) {
		props = new Map();
		for (let i = start + 1; i < lines.length && lines[i] !== "}"; i++) {
			const m = /^ {4}"([^"]+)"\??: (.*?);?$/.exec(lines[i]);
			if (m) props.set(m[1], m[2]);
		}
	}
	const r = { props, imports };
	dtsCache.set(file, r);
	return r;
}

function typeFile(decl, type) {
	const name = type.replace(/^Array<(.*)>$/, "$1");
	if (!/^I\w+$/.test(name) || !decl.imports.has(name)) return null;
	const f = decl.imports.get(name);
	return existsSync(f) ? f : null;
}

function strictCheck(obj, file, where, errors) {
	const decl = parseDts(file);
	if (!decl.props || obj === null || typeof obj !== "object" || Array.isArray(obj)) return;
	for (const [key, value] of Object.entries(obj)) {
		if (!decl.props.has(key)) {
			errors.push(`${where}.${key}: unknown field`);
			continue;
		}
		const type = decl.props.get(key);
		const sub = typeFile(decl, type);
		if (!sub) continue;
		if (type.startsWith("Array<")) {
			if (Array.isArray(value))
				value.forEach((v, i) => strictCheck(v, sub, `${where}.${key}[${i}]`, errors));
		} else {
			strictCheck(value, sub, `${where}.${key}`, errors);
		}
	}
}

// ---- main ----
const text = readFileSync(file, "utf8");
const docs = YAML.parseAllDocuments(text);
const problems = [];
const seen = new Set();
const objects = [];
for (const [i, doc] of docs.entries()) {
	if (doc.errors.length) {
		problems.push(`document ${i}: YAML: ${doc.errors[0].message}`);
		continue;
	}
	const obj = doc.toJS();
	if (obj === null || obj === undefined) continue; // empty document (e.g. a disabled template)
	const id = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
	if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
		problems.push(`document ${i}: no apiVersion/kind`);
		continue;
	}
	if (!obj.metadata || !obj.metadata.name) problems.push(`${id}: metadata.name missing`);
	if (seen.has(`${obj.apiVersion} ${id}`)) problems.push(`${id}: defined twice`);
	seen.add(`${obj.apiVersion} ${id}`);
	const spec = modelSpec(obj.apiVersion, obj.kind);
	const js = path.join(modulesDir, spec + ".js");
	if (!existsSync(js)) {
		problems.push(`${id}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
		continue;
	}
	const mod = await import(pathToFileURL(js).href);
	const Model = mod[obj.kind];
	try {
		new Model(obj).validate();
	} catch (e) {
		problems.push(`${id}: ${e.message}`);
	}
	const errors = [];
	strictCheck(obj, path.join(modulesDir, spec + ".d.ts"), id, errors);
	problems.push(...errors);
	objects.push(obj);
}
if (dumpIdx >= 0) writeFileSync(args[dumpIdx + 1], JSON.stringify(objects, null, 1));
if (objects.length === 0) problems.push("no manifests rendered");
for (const p of problems) console.log(`INVALID ${p}`);
console.log(`${objects.length} manifests checked, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
