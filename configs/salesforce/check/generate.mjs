// Writes IdlinkDecisionTableTest.cls and the README's decision table from decision-table.json.
// Usage: node generate.mjs --write   (npm run generate)
//        node generate.mjs           prints the class to stdout
import { readFileSync, writeFileSync } from "node:fs";
import { loadTable, renderTestClass, generatedPath, readmePath, spliceReadme } from "./table.mjs";

try {
  const table = loadTable();
  const text = renderTestClass(table);
  if (process.argv.includes("--write")) {
    writeFileSync(generatedPath, text);
    console.log(`wrote ${generatedPath}`);
    writeFileSync(readmePath, spliceReadme(readFileSync(readmePath, "utf8"), table));
    console.log(`updated the decision table in ${readmePath}`);
  } else {
    process.stdout.write(text);
  }
} catch (e) {
  console.error(`generate: ${e.message}`);
  process.exit(1);
}
