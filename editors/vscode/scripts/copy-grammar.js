// The grammar lives once, in grammar/flow.tmLanguage.json at the crate's
// root; the extension ships a copy, made here before packaging.
const fs = require('node:fs');
const path = require('node:path');

const from = path.resolve(__dirname, '..', '..', '..', 'grammar', 'flow.tmLanguage.json');
const to = path.resolve(__dirname, '..', 'syntaxes', 'flow.tmLanguage.json');
fs.mkdirSync(path.dirname(to), { recursive: true });
fs.copyFileSync(from, to);
