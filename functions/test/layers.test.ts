// Dependencies point one way: triggers → operations → poller → order →
// engine → store / food → model and config (docs/ARCHITECTURE.md#layers). This reads every import in
// functions/src and fails on one that points the other way, or that puts I/O
// into the pure parts; and every reference the tools around the deployable
// make to it, which must come in by its one door, api.ts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '..', 'src');
const ROOT = path.resolve(SRC, '..', '..');

/** Lower layers first; a module may import its own layer and the ones below. */
const LAYERS: Array<{ name: string; matches: (file: string) => boolean }> = [
  { name: 'generated', matches: (f) => f.startsWith('generated/') },
  {
    name: 'model and config',
    matches: (f) =>
      f.startsWith('model/') ||
      ['config.ts', 'backoff.ts', 'concurrency.ts', 'describe-error.ts'].includes(f),
  },
  { name: 'food', matches: (f) => f.startsWith('food/') },
  { name: 'store', matches: (f) => f.startsWith('store/') },
  { name: 'engine', matches: (f) => f.startsWith('engine/') },
  { name: 'order', matches: (f) => f.startsWith('order/') },
  { name: 'poller', matches: (f) => f.startsWith('poller/') },
  { name: 'operations', matches: (f) => f.startsWith('operations/') },
  { name: 'triggers', matches: (f) => f.startsWith('triggers/') },
  { name: 'entry point', matches: (f) => f === 'index.ts' || f === 'api.ts' },
];
/** food and store sit side by side: neither may import the other. */
const RANK: Record<string, number> = {
  generated: 0,
  'model and config': 1,
  food: 2,
  store: 2,
  engine: 3,
  order: 4,
  poller: 5,
  operations: 6,
  triggers: 7,
  'entry point': 8,
};

function layerOf(file: string): string {
  const layer = LAYERS.find((l) => l.matches(file));
  if (!layer)
    throw new Error(`${file} belongs to no layer: place it in one, or add its layer here`);
  return layer.name;
}

function sources(dir = SRC, from = SRC, extensions = /\.ts$/): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory())
      return ['generated', 'node_modules'].includes(entry.name)
        ? []
        : sources(full, from, extensions);
    return extensions.test(entry.name) ? [path.relative(from, full)] : [];
  });
}

/**
 * Where a file outside functions/src reaches into the functions: a module
 * path under functions/src, or a compiled module joined onto functions/lib
 * (`path.join(FUNCTIONS_DIR, 'lib', 'api.js')`), as written.
 */
function reachesInto(text: string): string[] {
  const modules = [...text.matchAll(/['"](?:\.\.\/)+functions\/src\/([^'"]+)['"]/g)].map(
    (m) => `src/${m[1]}`,
  );
  const compiled = [...text.matchAll(/path\.(?:join|resolve)\(([^()]*)\)/g)].flatMap((m) => {
    const args = m[1].split(',').map((a) => a.trim());
    const lib = args.findIndex((a) => a === "'lib'" || a === 'lib');
    if (lib < 0) return [];
    const rest = args.slice(lib + 1).filter((a) => a !== "'..'");
    return rest.length === 0 ? [] : [`lib/${rest.map((a) => a.replace(/'/g, '')).join('/')}`];
  });
  return [...modules, ...compiled];
}

/** Every module a file imports: relative ones resolved to files in src, packages by name. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)[^'"]*?from\s+'([^']+)';/gms)].map(
    (m) => m[1],
  );
  const local = specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => path.relative(SRC, path.resolve(path.dirname(path.join(SRC, file)), s)) + '.ts');
  return {
    local: local.map((f) =>
      fs.existsSync(path.join(SRC, f)) ? f : f.replace(/\.ts$/, '/index.ts'),
    ),
    packages: specifiers.filter((s) => !s.startsWith('.')),
  };
}

describe('layers', () => {
  const files = sources();

  it('finds the modules it checks', () => {
    assert.ok(files.length > 20, files.join(', '));
    for (const layer of [
      'model and config',
      'food',
      'store',
      'engine',
      'order',
      'poller',
      'operations',
      'triggers',
    ]) {
      assert.ok(
        files.some((f) => layerOf(f) === layer),
        `no module in ${layer}`,
      );
    }
  });

  it('imports point one way: triggers → operations → poller → order → engine → store / food → model', () => {
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

  it('keeps the domain model free of I/O: it imports nothing but the generated types and zod', () => {
    for (const file of files.filter((f) => f.startsWith('model/'))) {
      const { local, packages } = importsOf(file);
      assert.deepEqual(
        packages.filter((p) => p !== 'zod'),
        [],
        file,
      );
      for (const target of local)
        assert.ok(
          target.startsWith('model/') || target.startsWith('generated/'),
          `${file} imports ${target}`,
        );
    }
  });

  it('keeps decide(), the look, the failure rules and the observation diff pure: no Firestore, no gRPC, no clock', () => {
    for (const file of [
      'order/decide.ts',
      'engine/look.ts',
      'engine/failure.ts',
      'poller/observe.ts',
    ]) {
      const text = fs.readFileSync(path.join(SRC, file), 'utf8');
      const { local, packages } = importsOf(file);
      assert.deepEqual(packages, [], `${file} imports packages: ${packages.join(', ')}`);
      for (const target of local) {
        const typeOnly = new RegExp(
          `^import type [^;]*'[^']*${path.basename(target, '.ts')}'`,
          'm',
        ).test(text);
        assert.ok(
          target.startsWith('model/') ||
            target.startsWith('order/decide') ||
            target.startsWith('engine/look') ||
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

  describe('the one door', () => {
    const TOOLS = ['ops', 'local', 'bench', 'food-service'];
    /** api.ts for the tools; index.ts is the deployable itself, which the bench loads as firebase-tools does. */
    const DOORS = ['src/api', 'lib/api.js', 'lib/index.js'];
    const reaches = TOOLS.flatMap((dir) =>
      sources(path.join(ROOT, dir), ROOT, /\.(ts|js|mjs)$/).flatMap((file) =>
        reachesInto(fs.readFileSync(path.join(ROOT, file), 'utf8')).map((target) => ({
          file,
          target,
        })),
      ),
    );

    it('finds the tools that reach into the functions', () => {
      for (const dir of TOOLS)
        assert.ok(
          reaches.some((r) => r.file.startsWith(`${dir}/`)),
          `nothing in ${dir}/ imports the functions`,
        );
      assert.ok(
        reaches.some((r) => r.target === 'lib/api.js') &&
          reaches.some((r) => r.target === 'lib/index.js'),
        JSON.stringify(reaches),
      );
    });

    it('ops/, local/, bench/ and the food service reach into the functions only through api.ts', () => {
      const past = reaches
        .filter((r) => !DOORS.includes(r.target))
        .map((r) => `${r.file} → functions/${r.target}`);
      assert.deepEqual(past, []);
    });

    it('reads a reach past the door as one', () => {
      const text =
        "import { x } from '../functions/src/store/relations';\nrequire(path.join(FUNCTIONS_DIR, 'lib', 'food', 'client.js'));";
      assert.deepEqual(reachesInto(text), ['src/store/relations', 'lib/food/client.js']);
    });

    it("the functions' own tests and simulation import nothing from local/", () => {
      const functionsDir = path.resolve(SRC, '..');
      const wrong = ['test', 'sim'].flatMap((dir) =>
        sources(path.join(functionsDir, dir), functionsDir, /\.(ts|js)$/).filter((file) =>
          /(?:from\s+|require\(|import\()['"](?:\.\.\/)+local\//.test(
            fs.readFileSync(path.join(functionsDir, file), 'utf8'),
          ),
        ),
      );
      assert.deepEqual(wrong, []);
    });
  });
});
