// check-install-ps1 parses a PowerShell script with the tree-sitter PowerShell
// grammar and fails on any syntax error (an ERROR or MISSING node), printing
// file:line:col for each. It also fails when the script's code (comments do
// not count) would change the machine's scheduled tasks: install.ps1 lists
// the restic tasks it finds and must never disable, remove or stop them.
//
// Usage: node check-install-ps1.cjs [FILE]   (FILE defaults to ../install.ps1)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { Parser, Language } = require('web-tree-sitter');

// What the script must never do to a scheduled task, as code.
const forbidden = [
  { re: /\b(Disable|Unregister|Stop|Set)-ScheduledTask\b/gi, why: 'changes a scheduled task' },
  { re: /\bschtasks(\.exe)?\b[^\r\n]*?\/(change|delete|end|disable)\b/gi, why: 'changes a scheduled task through schtasks' },
];

async function main() {
  const file = path.resolve(process.argv[2] || path.join(__dirname, '..', 'install.ps1'));
  const source = fs.readFileSync(file, 'utf8');
  await Parser.init();
  const wasm = require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
  const parser = new Parser();
  parser.setLanguage(await Language.load(wasm));
  const tree = parser.parse(source);

  const problems = [];
  const comments = [];
  const walk = (node) => {
    if (node.type === 'ERROR') {
      problems.push(at(file, node.startPosition, `syntax error near ${snippet(node.text)}`));
    } else if (node.isMissing) {
      problems.push(at(file, node.startPosition, `syntax error: missing ${node.type}`));
    }
    if (node.type === 'comment') {
      comments.push([node.startIndex, node.endIndex]);
    }
    for (let i = 0; i < node.childCount; i++) walk(node.child(i));
  };
  walk(tree.rootNode);
  if (problems.length === 0 && tree.rootNode.hasError) {
    problems.push(at(file, tree.rootNode.startPosition, 'syntax error (the parser found one but could not place it)'));
  }

  // Blank the comments (keeping offsets and line breaks) and search the code.
  const code = blank(source, comments);
  for (const { re, why } of forbidden) {
    for (const m of code.matchAll(re)) {
      problems.push(at(file, position(code, m.index), `${m[0]}: ${why}; list scheduled tasks, never change them`));
    }
  }

  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`${path.basename(file)}: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`${path.basename(file)}: parses cleanly; no scheduled task is changed`);
}

// blank replaces the [start, end) byte ranges of source with spaces and returns
// the result one character per byte (latin1), so that indexes in it are the
// byte offsets tree-sitter reports, for any text in the script.
function blank(source, ranges) {
  const buf = Buffer.from(source, 'utf8');
  for (const [start, end] of ranges) {
    for (let i = start; i < end; i++) {
      if (buf[i] !== 0x0a && buf[i] !== 0x0d) buf[i] = 0x20;
    }
  }
  return buf.toString('latin1');
}

// position turns a byte offset in code into tree-sitter's {row, column}.
function position(code, index) {
  const before = code.slice(0, index);
  const row = (before.match(/\n/g) || []).length;
  return { row, column: index - (before.lastIndexOf('\n') + 1) };
}

function at(file, pos, message) {
  return `${file}:${pos.row + 1}:${pos.column + 1}: ${message}`;
}

function snippet(text) {
  const line = text.split(/\r?\n/)[0];
  return JSON.stringify(line.length > 60 ? line.slice(0, 60) + '...' : line);
}

main().catch((err) => {
  console.error(`check-install-ps1: ${err && err.stack ? err.stack : err}`);
  process.exit(2);
});
