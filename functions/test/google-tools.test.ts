// Finding Java and Google's emulators without downloading anything: the
// search order, the version check, and the user-owned launcher and wrapper.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  findFirestoreEmulator,
  findJava,
  findPubsubEmulator,
  javaMajor,
  launcherJar,
  MissingTool,
} from './helpers/google-tools';

/** A fake `java` that prints the banner of the given version, as `java -version` does (on stderr). */
function fakeJava(dir: string, version: string): string {
  const bin = path.join(dir, 'bin', 'java');
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  fs.writeFileSync(bin, `#!/bin/sh\necho 'openjdk version "${version}" 2026-01-01' >&2\n`, {
    mode: 0o755,
  });
  return bin;
}

describe('finding the tools', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tools-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reads the major version of every banner style', () => {
    assert.equal(javaMajor('openjdk version "25.0.3" 2026-04-21 LTS'), 25);
    assert.equal(javaMajor('openjdk version "17.0.15" 2025-04-15'), 17);
    assert.equal(javaMajor('java version "1.8.0_392"'), 8);
    assert.equal(javaMajor('openjdk version "21" 2023-09-19'), 21);
    assert.equal(javaMajor('no java here'), undefined);
  });

  it('prefers JAVA_HOME, then PATH, then the newest qualifying JVM in the folder', () => {
    const jvms = path.join(root, 'jvm');
    fakeJava(path.join(jvms, 'old-17'), '17.0.1');
    fakeJava(path.join(jvms, 'lts-21'), '21.0.2');
    fakeJava(path.join(jvms, 'new-25'), '25.0.3');
    const home = path.join(root, 'home22');
    fakeJava(home, '22.0.1');
    const onPath = path.join(root, 'path23');
    fakeJava(onPath, '23.0.1');

    assert.equal(findJava({ JAVA_HOME: home, PATH: path.join(onPath, 'bin') }, jvms).major, 22);
    assert.equal(findJava({ PATH: path.join(onPath, 'bin') }, jvms).major, 23);
    const fromFolder = findJava({ PATH: '' }, jvms);
    assert.equal(fromFolder.major, 25);
    assert.equal(fromFolder.source, jvms);
    // A Java 17 on PATH does not qualify; the folder still offers 25.
    assert.equal(findJava({ PATH: path.join(jvms, 'old-17', 'bin') }, jvms).major, 25);
  });

  it('says in one line what is missing when no Java qualifies, naming the ones it saw', () => {
    const jvms = path.join(root, 'jvm');
    fakeJava(path.join(jvms, 'old-17'), '17.0.1');
    assert.throws(
      () => findJava({ PATH: '' }, jvms),
      (error: unknown) => {
        assert.ok(error instanceof MissingTool);
        assert.equal(error.tool, 'java');
        assert.match(
          error.message,
          /Java 21 or newer is missing \(found only Java 17 at .*old-17\/bin\/java\): install one/,
        );
        assert.doesNotMatch(error.message, /\n/);
        return true;
      },
    );
  });

  it('takes an emulator override as it is, and refuses one that does not exist', () => {
    const jar = path.join(root, 'my-firestore.jar');
    fs.writeFileSync(jar, 'jar');
    assert.deepEqual(findFirestoreEmulator({ FIRESTORE_EMULATOR_BINARY_PATH: jar }), {
      path: jar,
      source: 'FIRESTORE_EMULATOR_BINARY_PATH',
    });
    assert.throws(
      () => findPubsubEmulator({ PUBSUB_EMULATOR_BINARY_PATH: path.join(root, 'nope') }),
      /PUBSUB_EMULATOR_BINARY_PATH names .*nope, which does not exist/,
    );
  });

  it('says how to get the emulators when neither the firebase cache nor a Cloud SDK has them', () => {
    const empty = {
      PATH: '',
      HOME: root,
      FIREBASE_EMULATORS_PATH: path.join(root, 'cache'),
      XDG_CACHE_HOME: root,
    };
    assert.throws(
      () => findFirestoreEmulator(empty),
      /gcloud components install cloud-firestore-emulator/,
    );
    assert.throws(() => findPubsubEmulator(empty), /gcloud components install pubsub-emulator/);
  });

  it('wraps a Cloud SDK found through gcloud on PATH in user-owned files: a launcher jar and a wrapper script', () => {
    const sdk = path.join(root, 'sdk');
    fs.mkdirSync(path.join(sdk, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(sdk, 'bin', 'gcloud'), '#!/bin/sh\n', { mode: 0o755 });
    fs.mkdirSync(path.join(sdk, 'platform', 'cloud-firestore-emulator'), { recursive: true });
    fs.writeFileSync(
      path.join(sdk, 'platform', 'cloud-firestore-emulator', 'cloud-firestore-emulator.jar'),
      'sdk jar',
    );
    const script = path.join(sdk, 'platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');
    fs.mkdirSync(path.dirname(script), { recursive: true });
    fs.writeFileSync(script, '#!/bin/sh\necho "pubsub $@"\n', { mode: 0o755 });
    const env = {
      PATH: path.join(sdk, 'bin'),
      HOME: root,
      FIREBASE_EMULATORS_PATH: path.join(root, 'cache'),
      XDG_CACHE_HOME: path.join(root, 'xdg'),
    };

    const firestore = findFirestoreEmulator(env);
    assert.equal(
      firestore.path,
      path.join(
        root,
        'xdg',
        'food-orchestrator',
        'emulators',
        'cloud-firestore-emulator-launcher.jar',
      ),
    );
    assert.match(firestore.source, /^Cloud SDK/);
    const pubsub = findPubsubEmulator(env);
    assert.equal(
      spawnSync(pubsub.path, ['--port', '1'], { encoding: 'utf8' }).stdout.trim(),
      'pubsub --port 1',
      'the wrapper runs the SDK script with the arguments',
    );
    // firebase-tools chmods both paths at start-up: they must be ours to chmod.
    fs.chmodSync(firestore.path, 0o755);
    fs.chmodSync(pubsub.path, 0o755);
  });

  it("writes a launcher jar that the JDK's own jar tool reads: the main class and the jar to load, in 72-byte lines", () => {
    const file = path.join(root, 'launcher.jar');
    fs.writeFileSync(
      file,
      launcherJar(
        'com.example.Main',
        '/opt/some sdk/a-very-long-folder-name-that-goes-past-seventy-two-bytes/emulator.jar',
      ),
    );
    const jar = path.join(findJava().binDir, 'jar');
    const extract = spawnSync(jar, ['-xf', file, 'META-INF/MANIFEST.MF'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(extract.status, 0, extract.stderr);
    const raw = fs.readFileSync(path.join(root, 'META-INF', 'MANIFEST.MF'), 'utf8');
    for (const line of raw.split('\r\n'))
      assert.ok(Buffer.byteLength(line) <= 72, `manifest lines are at most 72 bytes: ${line}`);
    const manifest = raw.replace(/\r\n /g, '');
    assert.match(manifest, /^Manifest-Version: 1\.0\r\n/);
    assert.match(manifest, /Main-Class: com\.example\.Main\r\n/);
    assert.match(
      manifest,
      /Class-Path: file:\/\/\/opt\/some%20sdk\/a-very-long-folder-name-that-goes-past-seventy-two-bytes\/emulator\.jar\r\n/,
    );
  });
});
