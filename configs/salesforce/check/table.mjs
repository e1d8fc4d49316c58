// Reads configs/salesforce/decision-table.json, validates it, and renders the Apex
// test class that checks every row (IdlinkDecisionTableTest.cls). The generator and
// the checker share this module, so the committed class can be compared byte for byte
// with what the table says today.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const tablePath = path.join(packageRoot, "decision-table.json");
export const classesDir = path.join(packageRoot, "force-app", "main", "default", "classes");
export const generatedClass = "IdlinkDecisionTableTest";
export const generatedPath = path.join(classesDir, `${generatedClass}.cls`);

// The registration handler methods a row can be about: Salesforce calls createUser when
// it holds no ThirdPartyAccountLink for the sub, confirmUser when it does.
export const handlers = ["createUser", "confirmUser"];

// The inputs of the table and the values each may take. A new input in the JSON fails
// validation here until the Apex Facts, the test world and this list learn it. This
// order is the order of IdlinkSignInTestWorld.Row's constructor arguments (check.mjs
// compares them) and of the README's columns.
const inputs = {
  handler: (v) => handlers.includes(v),
  link: (v) => ["none", "active", "revoked"].includes(v),
  linkUserActive: (v) => typeof v === "boolean",
  oid: (v) => typeof v === "boolean",
  tid: (v) => ["configured", "other", "missing"].includes(v),
  federationMatches: (v) => Number.isInteger(v) && v >= 0 && v <= 3,
  federationInactiveMatch: (v) => typeof v === "boolean",
  emailMatches: (v) => typeof v === "boolean",
  jit: (v) => typeof v === "boolean",
  accountLinkUserActive: (v) => typeof v === "boolean",
};
export const inputNames = Object.keys(inputs);

/** Loads and validates the table; throws an Error naming every problem. */
export function loadTable(file = tablePath) {
  let table;
  try {
    table = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not readable JSON: ${e.message}`);
  }
  const problems = [];
  const declared = Object.keys(table.inputs ?? {});
  for (const name of declared) {
    if (!(name in inputs)) problems.push(`input "${name}" is declared in the table but unknown to the Apex tests (check/table.mjs)`);
  }
  for (const name of inputNames) {
    if (!declared.includes(name)) problems.push(`input "${name}" is missing from the table's "inputs"`);
  }
  const outcomes = Object.keys(table.outcomes ?? {});
  if (!Array.isArray(table.rows) || table.rows.length === 0) problems.push(`"rows" must be a non-empty array`);
  const seen = new Set();
  (table.rows ?? []).forEach((row, i) => {
    const where = `row ${i + 1} (${JSON.stringify(row.name)})`;
    if (typeof row.name !== "string" || row.name.trim() === "") problems.push(`${where}: name must be a non-empty string`);
    if (seen.has(row.name)) problems.push(`${where}: duplicate name`);
    seen.add(row.name);
    for (const [name, ok] of Object.entries(inputs)) {
      if (!(name in row)) problems.push(`${where}: missing input "${name}"`);
      else if (!ok(row[name])) problems.push(`${where}: bad value ${JSON.stringify(row[name])} for "${name}"`);
    }
    for (const key of Object.keys(row)) {
      if (key !== "name" && key !== "outcome" && !(key in inputs)) problems.push(`${where}: unknown key "${key}"`);
    }
    if (!outcomes.includes(row.outcome)) problems.push(`${where}: outcome ${JSON.stringify(row.outcome)} is not one of ${outcomes.join(", ")}`);
    // createUser runs only when Salesforce holds no ThirdPartyAccountLink, so there is no
    // account-link user to be active, nothing to keep, and confirmUser never creates one.
    if (row.handler === "createUser" && row.accountLinkUserActive !== false) problems.push(`${where}: accountLinkUserActive must be false in createUser rows`);
    if (row.handler === "createUser" && row.outcome === "account-link-user") problems.push(`${where}: createUser cannot keep an account link (there is none)`);
    if (row.handler === "confirmUser" && row.outcome === "create-user") problems.push(`${where}: confirmUser never creates a user`);
  });
  if (problems.length > 0) throw new Error(`${file}:\n  ${problems.join("\n  ")}`);
  return table;
}

function methodName(index, name) {
  const words = name
    .replace(/[^A-Za-z0-9]+/g, " ")
    .trim()
    .split(/\s+/)
    .map((w) => w[0].toUpperCase() + w.slice(1).toLowerCase());
  return `row${String(index).padStart(2, "0")}${words.join("")}`;
}

function apexString(s) {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function apexLiteral(v) {
  return typeof v === "string" ? apexString(v) : String(v);
}

/** text as comment lines starting with prefix, broken after commas to stay within width. */
function wrapComment(text, prefix, width) {
  const lines = [];
  let line = prefix;
  for (const word of text.split(" ")) {
    if (line.length + word.length + 1 > width && line.trim() !== prefix.trim()) {
      lines.push(line.trimEnd());
      line = prefix + "    ";
    }
    line += (line.endsWith(" ") ? "" : " ") + word;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** The Apex source of the generated test class for a validated table. */
export function renderTestClass(table) {
  const out = [];
  out.push("// GENERATED from configs/salesforce/decision-table.json by configs/salesforce/check/generate.mjs.");
  out.push("// Do not edit: change the table, then run `npm run generate` in configs/salesforce/check.");
  out.push("// The checker (`npm run check`, run by go test ./internal/sfpackage) fails when this file");
  out.push("// and the table disagree.");
  out.push("@IsTest");
  out.push(`private class ${generatedClass} {`);
  out.push(...wrapComment(`Row(${["index", "name", ...inputNames, "outcome"].join(", ")})`, "    // ", 92));
  table.rows.forEach((row, i) => {
    const index = i + 1;
    const args = [String(index), apexString(row.name), ...inputNames.map((n) => apexLiteral(row[n])), apexString(row.outcome)];
    out.push("");
    out.push("    @IsTest");
    out.push(`    static void ${methodName(index, row.name)}() {`);
    out.push("        IdlinkSignInTestWorld.check(");
    out.push("            new IdlinkSignInTestWorld.Row(");
    args.forEach((a, j) => out.push(`                ${a}${j < args.length - 1 ? "," : ""}`));
    out.push("            )");
    out.push("        );");
    out.push("    }");
  });
  out.push("}");
  return out.join("\n") + "\n";
}

export const readmePath = path.join(packageRoot, "README.md");
export const readmeStart = "<!-- decision-table:start (generated by check/generate.mjs; do not edit) -->";
export const readmeEnd = "<!-- decision-table:end -->";

function cell(v) {
  if (v === true) return "yes";
  if (v === false) return "no";
  return String(v).replace(/\|/g, "\\|");
}

/** The table as Markdown, for the README between readmeStart and readmeEnd. */
export function renderMarkdownTable(table) {
  const cols = ["#", "situation", ...inputNames, "outcome"];
  const lines = [
    `| ${cols.join(" | ")} |`,
    `| ${cols.map(() => "---").join(" | ")} |`,
  ];
  table.rows.forEach((row, i) => {
    const cells = [String(i + 1), cell(row.name), ...inputNames.map((n) => cell(row[n])), `**${row.outcome}**`];
    lines.push(`| ${cells.join(" | ")} |`);
  });
  lines.push("");
  lines.push("| outcome | meaning |");
  lines.push("| --- | --- |");
  for (const [k, v] of Object.entries(table.outcomes)) lines.push(`| **${k}** | ${cell(v)} |`);
  lines.push("");
  lines.push("| input | meaning |");
  lines.push("| --- | --- |");
  for (const n of inputNames) lines.push(`| ${n} | ${cell(table.inputs[n])} |`);
  return lines.join("\n");
}

/** readme with the generated table between the markers; throws if a marker is missing. */
export function spliceReadme(readme, table) {
  const a = readme.indexOf(readmeStart);
  const b = readme.indexOf(readmeEnd);
  if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${readmeStart} ... ${readmeEnd}`);
  return readme.slice(0, a + readmeStart.length) + "\n" + renderMarkdownTable(table) + "\n" + readme.slice(b);
}
