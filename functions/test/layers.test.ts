// Dependencies point one way: triggers → orchestration → store / food →
// model and config (docs/ARCHITECTURE.md#layers). This reads every import in
// functions/src and fails on one that points the other way, or that puts I/O
// into the pure parts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '..', 'src');

/** Lower layers first; a module may import its own layer and the ones below. */
const LAYERS: Array<{ name: string; matches: (file: string) => boolean }> = [
  { name: 'generated', matches: (f) => f.startsWith('generated/') },
  {
    name: 'model and config',
    matches: (f) => f.startsWith('model/') || ['config.ts', 'backoff.ts', 'concurrency.ts', 'describe-error.ts'].includes(f),
  },
  { name: 'food', matches: (f) => f.startsWith('food/') },
  { name: 'store', matches: (f) => f.startsWith('store/') },
  { name: 'orchestration', matches: (f) => f.startsWith('orchestration/') },
  { name: 'triggers', matches: (f) => f.startsWith('triggers/') },
  { name: 'entry point', matches: (f) => f === 'index.ts' },
];
/** food and store sit side by side: neither may import the other. */
const RANK: Record<string, number> = {
  generated: 0,
  'model and config': 1,
  food: 2,
  store: 2,
  orchestration: 3,
  triggers: 4,
  'entry point': 5,
};

function layerOf(file: string): string {
  const layer = LAYERS.find((l) => l.matches(file));
  if (!layer) throw new Error(`${file} belongs to no layer: place it in one, or add its layer here`);
  return layer.name;
}

function sources(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sources(full);
    return entry.name.endsWith('.ts') ? [path.relative(SRC, full)] : [];
  });
}

/** Every module a file imports: relative ones resolved to files in src, packages by name. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)[^'"]*?from\s+'([^']+)';/gms)].map((m) => m[1]);
  const local = specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => path.relative(SRC, path.resolve(path.dirname(path.join(SRC, file)), s)) + '.ts');
  return {
    local: local.map((f) => (fs.existsSync(path.join(SRC, f)) ? f : f.replace(/\.ts$/, '/index.ts'))),
    packages: specifiers.filter((s) => !s.startsWith('.')),
  };
}

describe('layers', () => {
  const files = sources();

  it('finds the modules it checks', () => {
    assert.ok(files.length > 20, files.join(', '));
    for (const layer of ['model and config', 'food', 'store', 'orchestration', 'triggers']) {
      assert.ok(
        files.some((f) => layerOf(f) === layer),
        `no module in ${layer}`,
      );
    }
  });

  it('imports point one way: triggers → orchestration → store / food → model and config', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const target of importsOf(file).local) {
        const to = layerOf(target);
        if (to === from) continue;
        if (RANK[to] >= RANK[from]) wrong.push(`${file} (${from}) imports ${target} (${to})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('keeps the domain model free of I/O: it imports nothing but the generated types', () => {
    for (const file of files.filter((f) => f.startsWith('model/'))) {
      const { local, packages } = importsOf(file);
      assert.deepEqual(packages, [], file);
      for (const target of local) assert.ok(target.startsWith('model/') || target.startsWith('generated/'), `${file} imports ${target}`);
    }
  });

  it('keeps decide() and the observation diff pure: no Firestore, no gRPC, no clock of their own', () => {
    for (const file of ['orchestration/decide.ts', 'orchestration/observe.ts', 'orchestration/step-failure.ts']) {
      const text = fs.readFileSync(path.join(SRC, file), 'utf8');
      const { local, packages } = importsOf(file);
      assert.deepEqual(packages, [], `${file} imports packages: ${packages.join(', ')}`);
      for (const target of local) {
        const typeOnly = new RegExp(`^import type [^;]*'[^']*${path.basename(target, '.ts')}'`, 'm').test(text);
        assert.ok(
          target.startsWith('model/') ||
            target.startsWith('orchestration/') ||
            typeOnly ||
            target === 'backoff.ts' ||
            target === 'describe-error.ts' ||
            target.startsWith('food/errors') ||
            target.startsWith('store/errors'),
          `${file} imports ${target}`,
        );
      }
      assert.doesNotMatch(text, /new Date\(\)|Date\.now\(\)/, `${file} reads the clock`);
    }
  });
});
