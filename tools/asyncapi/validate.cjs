// Validates an AsyncAPI document with the official parser; prints every diagnostic and exits 1 on any error.
// Usage: node tools/asyncapi/validate.cjs docs/asyncapi.yaml
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main(path) {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(path, "utf8"), { source: path });
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(JSON.stringify({ severity: d.severity, code: d.code, path: d.path.join("/"), message: d.message }));
  }
  if (!document || errors.length) {
    console.error(`${path}: ${errors.length} error(s)`);
    process.exit(1);
  }
  console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.allMessages().length} messages, ` +
    `${document.allChannels().length} channels, ${document.allOperations().length} operations`);
}

main(process.argv[2]).catch((e) => { console.error(e); process.exit(1); });
