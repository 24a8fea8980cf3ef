// The docs stay true where a machine can tell: every section the code cites
// exists, every relative link in the README and docs/ leads to a file, and no
// command hands npm a flag meant for the script.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

const tracked = (pattern: string[]) =>
  execFileSync('git', ['ls-files', ...pattern], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);

describe('the docs', () => {
  it('have every section the code and tests cite by anchor', () => {
    const cited: string[] = [];
    for (const file of tracked(['*.ts', '*.js'])) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/((?:docs\/)?[A-Z]+\.md)#([a-z0-9-]+)/g)) {
        const doc = m[1].startsWith('docs/') || m[1] === 'README.md' ? m[1] : `docs/${m[1]}`;
        cited.push(`${file} → ${doc}#${m[2]}`);
        assert.ok(
          fs.existsSync(path.join(ROOT, doc)),
          `${file} cites ${doc}, which does not exist`,
        );
        assert.ok(
          anchorsOf(doc).has(m[2]),
          `${file} cites ${doc}#${m[2]}, which has no such section`,
        );
      }
    }
    assert.ok(cited.length >= 8, `citations found: ${cited.join(', ')}`);
  });

  it("never pass a script's flags to npm without the -- separator (npm would take them for itself)", () => {
    const swallowed: string[] = [];
    // readme.test.ts writes the mistake on purpose, to see it caught.
    for (const file of tracked(['*.md', '*.ts', '*.js', '.ci/*']).filter(
      (f) => f !== 'local/test/readme.test.ts',
    )) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/npm (?:start|test|run [\w:-]+) --?[A-Za-z][\w-]*/g))
        swallowed.push(`${file}: ${m[0]}`);
    }
    assert.deepEqual(swallowed, []);
  });

  it('link only to files and sections that exist, and nowhere outside the repository but the web', () => {
    const docs = tracked(['*.md']).filter((f) => !f.startsWith('functions/node_modules'));
    for (const doc of docs) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?|mailto):/.test(target)) continue;
        const [file, anchor] = target.split('#');
        const resolved = file ? path.normalize(path.join(path.dirname(doc), file)) : doc;
        assert.ok(!resolved.startsWith('..'), `${doc} links outside the repository: ${target}`);
        assert.ok(
          fs.existsSync(path.join(ROOT, resolved)),
          `${doc} links to ${target}, which does not exist`,
        );
        if (anchor && resolved.endsWith('.md'))
          assert.ok(anchorsOf(resolved).has(anchor), `${doc} links to ${target}: no such section`);
      }
    }
  });
});
