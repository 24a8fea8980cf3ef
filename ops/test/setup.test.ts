// `npm run setup`: the gcloud commands it prints, that --dry-run runs none of
// them, and that a second run after a first one changes only what is still
// missing. gcloud itself needs an account and the network, so these runs talk
// to a gcloud of the test's (a record of what exists), through the script's
// own Io seam; the dry run is also run as a person runs it, through npm.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  parseSetup,
  projectEnvFile,
  setup,
  show,
  UsageError,
  type Command,
  type Io,
  type SetupOptions,
} from '../setup';

const ROOT = path.resolve(__dirname, '..', '..');
const PROJECT = 'food-orchestrator-prod';
const SA = `food-orchestrator@${PROJECT}.iam.gserviceaccount.com`;
const OPS = `food-orchestrator-ops@${PROJECT}.iam.gserviceaccount.com`;

/** A project as gcloud would show it: what exists, and every command that reached it. */
class FakeProject {
  readonly accounts = new Set<string>();
  readonly secrets = new Map<string, string>();
  readonly functions = new Set<string>();
  readonly calls: string[] = [];

  io(answers: string[] = [], log: string[] = []): Io {
    return {
      gcloud: (command) => this.run(command),
      ask: async (question) => {
        const answer = answers.shift();
        if (answer === undefined) throw new Error(`unexpected question: ${question}`);
        return answer;
      },
      log: (line) => log.push(line),
    };
  }

  private run({ args, stdin }: Command): { status: number; stdout: string; stderr: string } {
    this.calls.push(show({ args, ...(stdin !== undefined ? { stdin } : {}) }));
    const [a, b, c, d] = args;
    const ok = (stdout = '') => ({ status: 0, stdout, stderr: '' });
    const notFound = { status: 1, stdout: '', stderr: 'NOT_FOUND' };
    if (a === 'iam' && b === 'service-accounts' && c === 'describe')
      return this.accounts.has(d) ? ok(d) : notFound;
    if (a === 'iam' && b === 'service-accounts' && c === 'create') {
      this.accounts.add(`${d}@${PROJECT}.iam.gserviceaccount.com`);
      return ok();
    }
    if (a === 'secrets' && b === 'describe') return this.secrets.has(c) ? ok(c) : notFound;
    if (a === 'secrets' && b === 'create') {
      const file = args.find((arg) => arg.startsWith('--data-file='))?.slice('--data-file='.length);
      this.secrets.set(c, file === '-' ? String(stdin) : fs.readFileSync(String(file), 'utf8'));
      return ok();
    }
    if (a === 'functions' && b === 'describe') return this.functions.has(c) ? ok(c) : notFound;
    if (a === 'config') return ok('you@example.com\n');
    return ok();
  }
}

describe('npm run setup', () => {
  let root: string;
  let ca: string;
  const options = (more: Partial<SetupOptions> = {}): SetupOptions => ({
    project: PROJECT,
    region: 'europe-west1',
    foodService: 'food.example.com:443',
    ca,
    clientCert: undefined,
    clientKey: undefined,
    deployer: undefined,
    operators: ['user:alice@example.com'],
    dryRun: false,
    ...more,
  });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'setup-'));
    fs.mkdirSync(path.join(root, 'functions'));
    fs.writeFileSync(
      path.join(root, '.firebaserc'),
      JSON.stringify({ projects: { default: 'demo-food-orchestrator', prod: PROJECT } }),
    );
    ca = path.join(root, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('--dry-run prints every command and runs none, asks nothing and writes nothing', async () => {
    const log: string[] = [];
    const io: Io = {
      gcloud: (command) => assert.fail(`a dry run ran ${show(command)}`),
      ask: (question) => assert.fail(`a dry run asked: ${question}`),
      log: (line) => log.push(line),
    };
    assert.equal(
      await setup(options({ dryRun: true, ca: undefined, foodService: undefined }), io, root),
      0,
    );
    const commands = log.filter((line) => line.startsWith('$ ')).map((line) => line.slice(2));
    assert.deepEqual(commands, [
      `gcloud iam service-accounts create food-orchestrator --project=${PROJECT} '--display-name=food orchestrator functions'`,
      `gcloud iam service-accounts create food-orchestrator-ops --project=${PROJECT} '--display-name=food orchestrator operators (invokes pollFoodServiceNow and ops)'`,
      `gcloud projects add-iam-policy-binding ${PROJECT} --member=serviceAccount:${SA} --role=roles/datastore.user --condition=None`,
      `gcloud projects add-iam-policy-binding ${PROJECT} --member=serviceAccount:${SA} --role=roles/eventarc.eventReceiver --condition=None`,
      `gcloud projects add-iam-policy-binding ${PROJECT} --member=serviceAccount:${SA} --role=roles/cloudtasks.enqueuer --condition=None`,
      `gcloud iam service-accounts add-iam-policy-binding ${SA} --project=${PROJECT} '--member=<deployer>' --role=roles/iam.serviceAccountUser`,
      `gcloud iam service-accounts add-iam-policy-binding ${SA} --project=${PROJECT} --member=serviceAccount:${SA} --role=roles/iam.serviceAccountUser`,
      `gcloud iam service-accounts add-iam-policy-binding ${OPS} --project=${PROJECT} --member=user:alice@example.com --role=roles/iam.serviceAccountTokenCreator`,
      `gcloud secrets create FOOD_SERVICE_CA --project=${PROJECT} --replication-policy=automatic '--data-file=<ca.pem>'`,
      `printf none | gcloud secrets create FOOD_SERVICE_CLIENT_CERT --project=${PROJECT} --replication-policy=automatic --data-file=-`,
      `printf none | gcloud secrets create FOOD_SERVICE_CLIENT_KEY --project=${PROJECT} --replication-policy=automatic --data-file=-`,
      `gcloud firestore fields ttls update expireAt --collection-group=relations --enable-ttl --project=${PROJECT} --async`,
      `gcloud functions add-invoker-policy-binding advanceRelation --region=europe-west1 --member=serviceAccount:${SA} --project=${PROJECT}`,
      `gcloud functions add-invoker-policy-binding forgetHistory --region=europe-west1 --member=serviceAccount:${SA} --project=${PROJECT}`,
      `gcloud functions add-invoker-policy-binding observeShard --region=europe-west1 --member=serviceAccount:${SA} --project=${PROJECT}`,
      `gcloud functions add-invoker-policy-binding pollSlot --region=europe-west1 --member=serviceAccount:${SA} --project=${PROJECT}`,
    ]);
    assert.ok(log.includes(`  OPS_INVOKER=${OPS}`), log.join('\n'));
    assert.ok(log.includes('  FOOD_SERVICE_ADDRESS=<host:port>'));
    assert.equal(
      fs.existsSync(projectEnvFile(PROJECT, root)),
      false,
      'a dry run writes no env file',
    );
    assert.equal(log.at(-1), 'setup: a dry run, nothing was changed');
  });

  it('--dry-run through npm, as a person runs it, prints the commands and changes nothing', () => {
    const run = spawnSync(
      'npm',
      [
        'run',
        '-s',
        'setup',
        '--',
        '--project',
        PROJECT,
        '--dry-run',
        '--food-service',
        'food.example.com:443',
      ],
      {
        cwd: ROOT,
        // No gcloud anywhere: a dry run never looks for it.
        env: {
          PATH: path.dirname(process.execPath) + path.delimiter + '/usr/bin:/bin',
          HOME: process.env.HOME ?? '',
        },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(run.status, 0, run.stderr + run.stdout);
    assert.match(
      run.stdout,
      /^\$ gcloud iam service-accounts create food-orchestrator --project=food-orchestrator-prod /m,
    );
    assert.match(run.stdout, /^setup: a dry run, nothing was changed$/m);
    assert.equal(fs.existsSync(projectEnvFile(PROJECT)), false);
  });

  it('sets up an empty project, writes functions/.env.<projectId>, and a second run changes only what is still missing', async () => {
    const project = new FakeProject();
    const first: string[] = [];
    assert.equal(await setup(options(), project.io([], first), root), 0, first.join('\n'));
    assert.deepEqual([...project.accounts].sort(), [SA, OPS].sort());
    assert.deepEqual(Object.fromEntries(project.secrets), {
      FOOD_SERVICE_CA: fs.readFileSync(ca, 'utf8'),
      FOOD_SERVICE_CLIENT_CERT: 'none',
      FOOD_SERVICE_CLIENT_KEY: 'none',
    });
    assert.ok(
      project.calls.includes(
        `gcloud iam service-accounts add-iam-policy-binding ${SA} --project=${PROJECT} --member=user:you@example.com --role=roles/iam.serviceAccountUser`,
      ),
    );
    assert.equal(
      fs.readFileSync(projectEnvFile(PROJECT, root), 'utf8'),
      `FOOD_SERVICE_ADDRESS=food.example.com:443\nFUNCTIONS_REGION=europe-west1\nSERVICE_ACCOUNT=${SA}\nOPS_INVOKER=${OPS}\n`,
    );
    assert.ok(
      first.some((line) =>
        /advanceRelation is not deployed yet: run npm run deploy -- --project/.test(line),
      ),
    );
    assert.ok(
      !project.calls.some((call) => call.includes('add-invoker-policy-binding')),
      'no grant on a function that does not exist',
    );
    for (const line of first.filter((l) => l.startsWith('$ ')))
      assert.ok(project.calls.includes(line.slice(2).replace(/ {3}# look$/, '')), line);

    // After the first deploy: nothing is created again, the env file keeps its values, and the invokers are granted.
    project.functions.add('advanceRelation').add('observeShard');
    project.calls.length = 0;
    const again: string[] = [];
    assert.equal(
      await setup(
        options({ region: undefined, foodService: undefined, ca: undefined }),
        project.io([], again),
        root,
      ),
      0,
    );
    assert.ok(!project.calls.some((call) => / create /.test(call)), project.calls.join('\n'));
    assert.match(
      fs.readFileSync(projectEnvFile(PROJECT, root), 'utf8'),
      /^FUNCTIONS_REGION=europe-west1$/m,
    );
    assert.ok(
      project.calls.includes(
        `gcloud functions add-invoker-policy-binding advanceRelation --region=europe-west1 --member=serviceAccount:${SA} --project=${PROJECT}`,
      ),
    );
  });

  it('asks for the food service and the CA when they are not given, and checks the address', async () => {
    const project = new FakeProject();
    assert.equal(
      await setup(
        options({ foodService: undefined, ca: undefined }),
        project.io(['food.example.com:443', ca]),
        root,
      ),
      0,
    );
    assert.equal(project.secrets.get('FOOD_SERVICE_CA'), fs.readFileSync(ca, 'utf8'));
    const log: string[] = [];
    assert.equal(
      await setup(
        options({ foodService: undefined }),
        new FakeProject().io(['127.0.0.1:9000'], log),
        projectRootWithout(root),
      ),
      2,
    );
    assert.match(log.join('\n'), /"127\.0\.0\.1:9000" is not a food-service address/);
  });

  it("refuses to write functions/.env.<projectId> beside an alias's file, which would fail every deploy", async () => {
    fs.writeFileSync(
      path.join(root, 'functions', '.env.prod'),
      'FOOD_SERVICE_ADDRESS=food.example.com:443\n',
    );
    const project = new FakeProject();
    const log: string[] = [];
    assert.equal(await setup(options(), project.io([], log), root), 1);
    assert.match(
      log.join('\n'),
      /functions\/\.env\.prod would sit beside .*\.env\.food-orchestrator-prod, and the CLI refuses both/,
    );
    assert.deepEqual(project.calls, [], 'nothing was run');
  });

  it('refuses bad flags, naming them', () => {
    const bad: Array<[string[], RegExp]> = [
      [[], /--project needs a project id/],
      [['--project', 'demo-food-orchestrator'], /is a demo project/],
      [['--project', PROJECT, '--food-service', 'localhost:9000'], /not loopback/],
      [['--project', PROJECT, '--region', 'Europe'], /--region must be a Cloud Functions region/],
      [
        ['--project', PROJECT, '--client-cert', 'c.pem'],
        /--client-cert and --client-key go together/,
      ],
      [['--project', PROJECT, '--operator', 'alice@example.com'], /a member is user:/],
      [['--project', PROJECT, '--nope'], /Unknown option '--nope'/],
    ];
    for (const [argv, message] of bad)
      assert.throws(
        () => parseSetup(argv),
        (e: Error) => e instanceof UsageError && message.test(e.message),
        argv.join(' '),
      );
    assert.equal(parseSetup(['--help']), 'help');
    assert.deepEqual(
      parseSetup([
        '--project',
        PROJECT,
        '--operator',
        'user:a@x.com',
        '--operator',
        'group:ops@x.com',
        '--dry-run',
      ]),
      {
        project: PROJECT,
        region: undefined,
        foodService: undefined,
        ca: undefined,
        clientCert: undefined,
        clientKey: undefined,
        deployer: undefined,
        operators: ['user:a@x.com', 'group:ops@x.com'],
        dryRun: true,
      },
    );
  });
});

/** A fresh root with no env file yet, beside `root`. */
function projectRootWithout(root: string): string {
  const other = `${root}-other`;
  fs.mkdirSync(path.join(other, 'functions'), { recursive: true });
  return other;
}
