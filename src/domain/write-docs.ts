// Rewrites the README's generated tables from the catalogue (npm run docs).

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withGeneratedSections } from './docs.js';

const readme = fileURLToPath(new URL('../../README.md', import.meta.url));
writeFileSync(readme, withGeneratedSections(readFileSync(readme, 'utf8')));
console.log(`updated ${readme}`);
