// vendor.mjs copies the pinned HTMX builds from node_modules into static/vendor/,
// each with a one-line license header, so the Go binary can embed them and
// go build never needs Node. Run it through `npm run vendor` (or `npm run build`).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";

const vendored = [
  { pkg: "htmx.org", file: "dist/htmx.min.js", out: "htmx.min.js", license: "0BSD", author: "Big Sky Software" },
  { pkg: "htmx-ext-sse", file: "dist/sse.min.js", out: "htmx-ext-sse.min.js", license: "0BSD", author: "Big Sky Software" },
];

mkdirSync("static/vendor", { recursive: true });
for (const v of vendored) {
  const dir = `node_modules/${v.pkg}`;
  const { version } = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  const body = readFileSync(`${dir}/${v.file}`, "utf8");
  const header = `/*! ${v.pkg} ${version} | (c) ${v.author} | ${v.license} License | https://github.com/bigskysoftware */\n`;
  writeFileSync(`static/vendor/${v.out}`, header + body);
  console.log(`static/vendor/${v.out} <- ${v.pkg}@${version}`);
}
