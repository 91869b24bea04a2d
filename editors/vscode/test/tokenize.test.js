// Tokenizes every example and every case in test/cases with the engine VS
// Code itself uses (vscode-textmate on vscode-oniguruma) and compares the
// scopes with test/golden/<name>.tokens. `UPDATE_GOLDEN=1 npm test`
// rewrites the golden files; review the diff before committing it.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const textmate = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const root = path.resolve(__dirname, '..', '..', '..');
const grammarPath = path.join(root, 'grammar', 'flow.tmLanguage.json');
const goldenDir = path.join(__dirname, 'golden');

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.flow'
        ? textmate.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath)
        : null,
  });
  return registry.loadGrammar('source.flow');
}

/** One line per token that is not plain white space: its text and scopes. */
function describe(grammar, text) {
  const out = [];
  let state = textmate.INITIAL;
  text.split(/\r?\n/).forEach((line, index) => {
    const result = grammar.tokenizeLine(line, state);
    state = result.ruleStack;
    const tokens = result.tokens
      .map((token) => ({
        text: line.slice(token.startIndex, token.endIndex),
        scopes: token.scopes.filter((scope) => scope !== 'source.flow'),
      }))
      .filter((token) => token.text.trim() !== '' || token.scopes.length > 0);
    if (tokens.length === 0) return;
    out.push(`${index + 1}: ${line}`);
    for (const token of tokens) {
      out.push(`  ${JSON.stringify(token.text).padEnd(24)} ${token.scopes.join(' ') || '-'}`);
    }
  });
  return out.join('\n') + '\n';
}

function cases() {
  const examples = path.join(root, 'examples');
  const own = path.join(__dirname, 'cases');
  const list = (dir, prefix) =>
    fs.readdirSync(dir)
      .filter((name) => name.endsWith('.flow'))
      .sort()
      .map((name) => ({ name: prefix + name.replace(/\.flow$/, ''), file: path.join(dir, name) }));
  return [...list(examples, 'example-'), ...list(own, 'case-')];
}

test('every example and case tokenizes to its golden scopes', async (t) => {
  const grammar = await loadGrammar();
  const seen = new Set();
  for (const { name, file } of cases()) {
    seen.add(`${name}.tokens`);
    await t.test(name, () => {
      const actual = describe(grammar, fs.readFileSync(file, 'utf8'));
      const golden = path.join(goldenDir, `${name}.tokens`);
      if (process.env.UPDATE_GOLDEN) {
        fs.writeFileSync(golden, actual);
        return;
      }
      assert.ok(fs.existsSync(golden), `no golden file ${golden}: run UPDATE_GOLDEN=1 npm test`);
      assert.equal(actual, fs.readFileSync(golden, 'utf8'));
    });
  }
  const stale = fs.readdirSync(goldenDir).filter((name) => !seen.has(name));
  assert.deepEqual(stale, [], 'golden files without a case');
});

test('no example token goes unscoped', async () => {
  const grammar = await loadGrammar();
  for (const { name, file } of cases().filter((c) => c.name.startsWith('example-'))) {
    const unscoped = describe(grammar, fs.readFileSync(file, 'utf8'))
      .split('\n')
      .filter((line) => line.endsWith(' -'));
    assert.deepEqual(unscoped, [], `${name} has text without a scope`);
  }
});
