// Offline checks of the idlink Salesforce package (no org needed):
//  1. decision-table.json is valid, and IdlinkDecisionTableTest.cls and the README's
//     table are exactly what generate.mjs renders from it (neither can drift);
//  2. every outcome of the table is handled by IdlinkSignInDecision.cls, every input is
//     a field of its Facts and every handler a value of its Handler enum, the test
//     world's Row takes the inputs in the generated order, and the README shows the
//     same failure messages;
//  3. every .cls and .trigger parses with the Apex parser shipped in
//     prettier-plugin-apex (Salesforce's jorje parser, run on Java), after a self-test
//     proving the parser rejects broken Apex;
//  4. the source resolves and converts to Metadata API format with
//     @salesforce/source-deploy-retrieve (the Salesforce CLI's library), and every file
//     under force-app belongs to a metadata component.
// Usage: node check.mjs [--parser java|native]   (npm run check). Exit 1 on any problem.
// The parser defaults to java (the plugin's Java serializer, run once as a local HTTP
// server on 127.0.0.1); IDLINK_APEX_PARSER=native uses the prebuilt native binary of the
// same parser, when the optional npm package for this platform is present.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import * as prettier from "prettier";
import * as apexPlugin from "prettier-plugin-apex";
import { loadTable, renderTestClass, generatedPath, packageRoot, classesDir, readmePath, spliceReadme, inputNames, handlers } from "./table.mjs";

const argParser = process.argv.includes("--parser") ? process.argv[process.argv.indexOf("--parser") + 1] : undefined;
const parserKind = argParser ?? process.env.IDLINK_APEX_PARSER ?? "java";
if (!["java", "native"].includes(parserKind)) {
  console.error(`check: unknown parser "${parserKind}"; use java or native`);
  process.exit(2);
}

const problems = [];
const rel = (p) => path.relative(packageRoot, p);

// 1. The table and the generated test class.
let table;
try {
  table = loadTable();
  const want = renderTestClass(table);
  let have = "";
  try {
    have = readFileSync(generatedPath, "utf8");
  } catch {
    problems.push(`${rel(generatedPath)} is missing; run: cd configs/salesforce/check && npm run generate`);
  }
  if (have && have !== want) {
    problems.push(`${rel(generatedPath)} differs from decision-table.json; run: cd configs/salesforce/check && npm run generate`);
  }
  try {
    const readme = readFileSync(readmePath, "utf8");
    if (spliceReadme(readme, table) !== readme) {
      problems.push(`${rel(readmePath)}: the decision table differs from decision-table.json; run: cd configs/salesforce/check && npm run generate`);
    }
  } catch (e) {
    problems.push(`${rel(readmePath)}: ${e.message}`);
  }
  console.log(`decision table: ${table.rows.length} rows, ${Object.keys(table.outcomes).length} outcomes`);
} catch (e) {
  problems.push(e.message);
}

// 2. Every outcome is named in the decision class, and the enum has no extra values;
// every input is a field of its Facts, every handler a value of its Handler enum, and
// the test world's Row takes the inputs in the order the generated test passes them.
if (table) {
  const decisionPath = path.join(classesDir, "IdlinkSignInDecision.cls");
  const src = readFileSync(decisionPath, "utf8");
  for (const key of Object.keys(table.outcomes)) {
    if (!src.includes(`'${key}'`)) problems.push(`${rel(decisionPath)}: outcome '${key}' of decision-table.json is not handled`);
  }
  const m = src.match(/enum\s+Outcome\s*\{([^}]*)\}/);
  const values = m ? m[1].split(",").map((s) => s.trim()).filter(Boolean) : [];
  if (values.length !== Object.keys(table.outcomes).length) {
    problems.push(`${rel(decisionPath)}: enum Outcome has ${values.length} values, the table ${Object.keys(table.outcomes).length} outcomes`);
  }

  const facts = src.match(/class\s+Facts\s*\{([^}]*)\}/);
  for (const name of inputNames) {
    if (!facts || !new RegExp(`public\\s+[\\w.]+\\s+${name}\\b`).test(facts[1])) {
      problems.push(`${rel(decisionPath)}: input "${name}" of decision-table.json is not a field of Facts`);
    }
  }
  // createUser -> CREATE_USER, confirmUser -> CONFIRM_USER
  const want = handlers.map((h) => h.replace(/([A-Z])/g, "_$1").toUpperCase());
  const hm = src.match(/enum\s+Handler\s*\{([^}]*)\}/);
  const have = hm ? hm[1].split(",").map((s) => s.trim()).filter(Boolean) : [];
  if (have.join(",") !== want.join(",")) {
    problems.push(`${rel(decisionPath)}: enum Handler is {${have.join(", ")}}, the table's handlers need {${want.join(", ")}}`);
  }

  const worldPath = path.join(classesDir, "IdlinkSignInTestWorld.cls");
  try {
    const world = readFileSync(worldPath, "utf8");
    const ctor = world.match(/public\s+Row\s*\(([^)]*)\)/);
    const params = ctor ? ctor[1].split(",").map((p) => p.trim().split(/\s+/).pop()).filter(Boolean) : [];
    const expected = ["index", "name", ...inputNames, "outcome"];
    if (params.join(",") !== expected.join(",")) {
      problems.push(`${rel(worldPath)}: Row(${params.join(", ")}) must take (${expected.join(", ")}), the arguments IdlinkDecisionTableTest passes`);
    }
  } catch (e) {
    problems.push(`${rel(worldPath)}: ${e.code === "ENOENT" ? "missing" : e.message}`);
  }
}

// 2b. The messages the README promises are the ones the handler shows.
try {
  const readme = readFileSync(readmePath, "utf8");
  const decision = readFileSync(path.join(classesDir, "IdlinkSignInDecision.cls"), "utf8");
  const rows = [...readme.matchAll(/^\| (fail-[a-z]+) \| (.+?) \|$/gm)];
  if (rows.length === 0) problems.push(`${rel(readmePath)}: no "| fail-... | message |" rows found`);
  for (const [, outcome, msg] of rows) {
    if (!decision.includes(`'${msg}'`)) {
      problems.push(`${rel(readmePath)}: the message for ${outcome} differs from IdlinkSignInDecision.cls`);
    }
  }
} catch (e) {
  problems.push(`README messages: ${e.message}`);
}

// 3. Parse every Apex file.
function apexFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...apexFiles(p));
    else if (name.endsWith(".cls") || name.endsWith(".trigger")) out.push(p);
  }
  return out.sort();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// The Java parser runs as one local HTTP server for all files (one JVM start instead of
// one per file). It listens on 127.0.0.1 only, on a free port, and is shut down with a
// random token at the end.
async function startJavaParser() {
  // The package exports only dist/src/index.js; its vendor/ folder sits two levels up.
  const pluginDir = path.resolve(path.dirname(createRequire(import.meta.url).resolve("prettier-plugin-apex")), "..", "..");
  const bin = path.join(pluginDir, "vendor", "apex-ast-serializer", "bin", "apex-ast-serializer-http");
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  let exited = null;
  let stderr = "";
  const child = spawn(bin, ["-s", "-a", token, "-h", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr.on("data", (d) => (stderr += d));
  child.on("error", (e) => (exited = e.message));
  child.on("exit", (code) => (exited = `exited with code ${code}`));
  // Never leave the JVM behind: not on normal exit, not when the caller stops us.
  process.on("exit", () => exited || child.kill());
  for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
      if (!exited) child.kill();
      process.exit(1);
    });
  }
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new Error(`Java Apex parser ${exited}: ${stderr.trim().split("\n").slice(-3).join(" ")}`);
    try {
      await fetch(`http://127.0.0.1:${port}/api/ast`, { method: "GET" });
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill();
        throw new Error("Java Apex parser did not start within 90 s");
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const stop = async () => {
    try {
      await fetch(`http://127.0.0.1:${port}/shutdown?token=${token}`, { method: "POST" });
    } catch {
      // already gone
    }
    if (!exited) child.kill();
  };
  return { port, stop };
}

let formatOptions = { parser: "apex", plugins: [apexPlugin], apexStandaloneParser: "native" };
let stopParser = async () => {};

async function parseApex(source) {
  await prettier.format(source, formatOptions);
}

function explain(e) {
  const msg = String(e?.message ?? e);
  if (/ENOENT|java: not found|JAVA_HOME|parser exited|did not start/i.test(msg)) {
    return `the Apex parser could not start (${parserKind}): ${msg.split("\n")[0]}; install Java 11+ (java on PATH or JAVA_HOME) or use --parser native`;
  }
  return msg.split("\n").slice(0, 3).join(" ");
}

const started = Date.now();
let parserWorks = false;
try {
  if (parserKind === "java") {
    const server = await startJavaParser();
    stopParser = server.stop;
    console.log(`apex: java parser server up after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    formatOptions = {
      ...formatOptions,
      apexStandaloneParser: "built-in",
      apexStandaloneHost: "127.0.0.1",
      apexStandalonePort: server.port,
      apexStandaloneProtocol: "http",
    };
  }
  try {
    await parseApex("public class IdlinkParserSelfTest { void f() { Integer x = ; } }");
    problems.push("parser self-test: broken Apex parsed without error, so the parser checks nothing");
  } catch (e) {
    const msg = String(e?.message ?? e);
    if (/Unexpected token|mismatched|extraneous|missing/i.test(msg)) parserWorks = true;
    else problems.push(`parser self-test: ${explain(e)}`);
  }
} catch (e) {
  problems.push(`parser: ${explain(e)}`);
}

if (parserWorks) {
  const files = apexFiles(path.join(packageRoot, "force-app"));
  for (const f of files) {
    try {
      await parseApex(readFileSync(f, "utf8"));
    } catch (e) {
      problems.push(`${rel(f)}: Apex syntax error: ${explain(e)}`);
    }
  }
  console.log(`apex: parsed ${files.length} files with the ${parserKind} parser in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
await stopParser();

// 4. The source format resolves and converts to Metadata API format with the Salesforce
// CLI's own library, and every file under force-app belongs to a component.
try {
  process.env.SF_DISABLE_LOG_FILE = "true"; // @salesforce/core would log under ~/.sf
  const { ComponentSet, MetadataConverter } = await import("@salesforce/source-deploy-retrieve");
  const forceApp = path.join(packageRoot, "force-app");
  const project = JSON.parse(readFileSync(path.join(packageRoot, "sfdx-project.json"), "utf8"));
  const cs = ComponentSet.fromSource(forceApp);
  cs.sourceApiVersion = project.sourceApiVersion;
  const claimed = new Set();
  const counts = {};
  for (const c of cs.getSourceComponents().toArray()) {
    counts[c.type.name] = (counts[c.type.name] ?? 0) + 1;
    if (c.xml) claimed.add(c.xml);
    for (const f of c.walkContent()) claimed.add(f);
    for (const child of c.getChildren()) {
      counts[child.type.name] = (counts[child.type.name] ?? 0) + 1;
      if (child.xml) claimed.add(child.xml);
    }
  }
  const walk = (dir) => readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
  for (const f of walk(forceApp)) {
    if (!claimed.has(f)) problems.push(`${rel(f)}: not part of any metadata component (misnamed or misplaced?)`);
  }
  const out = mkdtempSync(path.join(os.tmpdir(), "idlink-mdapi-"));
  try {
    await new MetadataConverter().convert(cs, "metadata", { type: "directory", outputDirectory: out, genUniqueDir: false });
    const manifest = readFileSync(path.join(out, "package.xml"), "utf8");
    if (!manifest.includes(`<version>${project.sourceApiVersion}</version>`)) {
      problems.push(`converted package.xml does not carry sourceApiVersion ${project.sourceApiVersion}`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  console.log(`source format: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")}; converts to Metadata API format`);
} catch (e) {
  problems.push(`source format: ${String(e?.message ?? e).split("\n")[0]}`);
}

if (problems.length > 0) {
  console.error(`check: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log("check: ok");
