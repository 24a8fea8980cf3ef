// Finds the tools Google's emulators need on this machine, without
// downloading anything: a Java of 21 or newer, the Firestore emulator and the
// Pub/Sub emulator, each from an explicit override, firebase-tools' own cache
// (what `firebase setup:emulators:<name>` downloads) or the Cloud SDK
// components (`gcloud components install cloud-firestore-emulator pubsub-emulator`).
// The tests start the Firestore emulator with it; `npm run tools` and
// `npm start` hand what it finds to firebase-tools.
//
// firebase-tools starts the Firestore emulator with `java -jar <path>` and the
// Pub/Sub one by executing <path>, and it chmods both paths, so the Cloud SDK's
// root-owned files cannot be handed to it directly. For those, this module
// writes a launcher jar (a manifest naming the SDK jar) and a wrapper script
// into a cache folder the user owns.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';

/** Debian's (and most distributions') folder of installed JVMs. */
const JVM_DIR = '/usr/lib/jvm';
const FIRESTORE_MAIN_CLASS = 'com.google.cloud.datastore.emulator.firestore.CloudFirestore';
export const MIN_JAVA = 21;

/** A tool that could not be found: the message says in one line what is missing and how to get it. */
export class MissingTool extends Error {
  constructor(
    readonly tool: 'java' | 'firestore' | 'pubsub',
    message: string,
  ) {
    super(message);
    this.name = 'MissingTool';
  }
}

export interface Java {
  /** The java executable. */
  bin: string;
  /** Its folder, to put first on PATH for firebase-tools, which runs plain `java`. */
  binDir: string;
  major: number;
  /** Where it was found, for messages: JAVA_HOME, PATH or the JVM folder. */
  source: string;
}

/** The major version a `java -version` banner names: "25.0.3" → 25, "1.8.0_392" → 8. */
export function javaMajor(banner: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(banner);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}

function probeJava(bin: string, source: string): Java | undefined {
  if (!fs.existsSync(bin)) return undefined;
  const result = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 15_000 });
  const major = javaMajor(`${result.stderr ?? ''}${result.stdout ?? ''}`);
  return major === undefined ? undefined : { bin, binDir: path.dirname(bin), major, source };
}

function onPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir && fs.existsSync(candidate)) return fs.realpathSync(candidate);
  }
  return undefined;
}

/**
 * A Java of MIN_JAVA or newer: JAVA_HOME, then PATH, then the newest that
 * qualifies in the JVM folder. Throws MissingTool naming what was seen.
 */
export function findJava(env: NodeJS.ProcessEnv = process.env, jvmDir = JVM_DIR): Java {
  const preferred = [
    ...(env.JAVA_HOME
      ? [{ bin: path.join(env.JAVA_HOME, 'bin', 'java'), source: 'JAVA_HOME' }]
      : []),
    ...[onPath('java', env)].flatMap((bin) => (bin ? [{ bin, source: 'PATH' }] : [])),
  ];
  const installed = fs.existsSync(jvmDir)
    ? fs
        .readdirSync(jvmDir)
        .map((name) => ({ bin: path.join(jvmDir, name, 'bin', 'java'), source: jvmDir }))
    : [];
  const probed = new Map<string, Java | undefined>();
  const probe = ({ bin, source }: { bin: string; source: string }): Java | undefined => {
    const real = fs.existsSync(bin) ? fs.realpathSync(bin) : bin;
    if (!probed.has(real)) probed.set(real, probeJava(bin, source));
    return probed.get(real);
  };
  const qualifies = (java: Java | undefined): java is Java =>
    java !== undefined && java.major >= MIN_JAVA;
  const found =
    preferred.map(probe).find(qualifies) ??
    installed
      .map(probe)
      .filter(qualifies)
      .sort((a, b) => b.major - a.major)[0];
  if (found) return found;
  const seen = [...probed.values()].flatMap((java) =>
    java ? [`Java ${java.major} at ${java.bin}`] : [],
  );
  throw new MissingTool(
    'java',
    `Java ${MIN_JAVA} or newer is missing${seen.length ? ` (found only ${seen.join(', ')})` : ''}: ` +
      `install one (e.g. Temurin ${MIN_JAVA}+ from adoptium.net) and set JAVA_HOME or put it on PATH`,
  );
}

export interface DownloadInfo {
  version: string;
  downloadPathRelativeToCacheDir: string;
  binaryPathRelativeToCacheDir?: string;
}

/** What the pinned firebase-tools downloads, and where it keeps it. */
export function firebaseDownloads(env: NodeJS.ProcessEnv): {
  info: Record<string, DownloadInfo & Record<string, unknown>>;
  cacheDir: string;
} {
  // The repository's pinned firebase-tools, found from here up the tree as Node finds modules.
  const file = require.resolve('firebase-tools/lib/emulator/downloadableEmulatorInfo.json');
  return {
    info: JSON.parse(fs.readFileSync(file, 'utf8')) as Record<
      string,
      DownloadInfo & Record<string, unknown>
    >,
    cacheDir:
      env.FIREBASE_EMULATORS_PATH ?? path.join(os.homedir(), '.cache', 'firebase', 'emulators'),
  };
}

/** Where `firebase setup:emulators:<name>` puts the emulator. */
function firebaseCache(name: 'firestore' | 'pubsub', env: NodeJS.ProcessEnv): string {
  const { info, cacheDir } = firebaseDownloads(env);
  return path.join(
    cacheDir,
    info[name].binaryPathRelativeToCacheDir ?? info[name].downloadPathRelativeToCacheDir,
  );
}

/** The Cloud SDK's root: next to the gcloud on PATH, else what `gcloud info` says. */
export function cloudSdkRoot(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const gcloud = onPath('gcloud', env);
  if (!gcloud) return undefined;
  const beside = path.dirname(path.dirname(gcloud));
  if (fs.existsSync(path.join(beside, 'platform'))) return beside;
  const result = spawnSync(gcloud, ['info', '--format=value(installation.sdk_root)'], {
    encoding: 'utf8',
    timeout: 60_000,
    env,
  });
  const root = result.stdout?.trim();
  return root && fs.existsSync(root) ? root : undefined;
}

export interface EmulatorBinary {
  /** What firebase-tools' *_EMULATOR_BINARY_PATH gets: a jar `java -jar` runs, or an executable. */
  path: string;
  /** Where the tool itself was found: the override, the firebase cache or the Cloud SDK. */
  source: string;
}

/** The user-owned folder for launchers and wrappers; nothing of the tools themselves is copied. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(
    env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'),
    'food-orchestrator',
    'emulators',
  );
}

/**
 * A jar with only a manifest: `java -jar` runs Main-Class with Class-Path on
 * the class path. Written as a stored (uncompressed) zip, which is all a jar is.
 */
export function launcherJar(mainClass: string, classPath: string): Buffer {
  // Manifest lines are at most 72 bytes; longer values continue on lines that start with a space.
  const line = (text: string) => text.match(/^.{1,70}|.{1,69}/g)?.join('\r\n ') ?? text;
  const manifest = Buffer.from(
    [
      line('Manifest-Version: 1.0'),
      line(`Main-Class: ${mainClass}`),
      line(`Class-Path: ${pathToFileUrl(classPath)}`),
      '',
      '',
    ].join('\r\n'),
  );
  const name = Buffer.from('META-INF/MANIFEST.MF');
  const crc = crc32(manifest);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4); // version needed
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(manifest.length, 18);
  local.writeUInt32LE(manifest.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4); // version made by
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(manifest.length, 20);
  central.writeUInt32LE(manifest.length, 24);
  central.writeUInt16LE(name.length, 28);
  const centralOffset = local.length + name.length + manifest.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, name, manifest, central, name, end]);
}

function pathToFileUrl(file: string): string {
  return `file://${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** Writes `content` unless the file already holds it, so concurrent runs do not trip over each other. */
function writeIfChanged(file: string, content: Buffer | string, mode: number): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const existing = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  if (!existing || !existing.equals(Buffer.from(content))) {
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, content, { mode });
    fs.renameSync(temporary, file);
  }
  fs.chmodSync(file, mode);
  return file;
}

/**
 * Google's Firestore emulator as a jar `java -jar` can run: the override as
 * it is, firebase-tools' cached jar, or a launcher for the Cloud SDK's jar.
 */
export function findFirestoreEmulator(env: NodeJS.ProcessEnv = process.env): EmulatorBinary {
  if (env.FIRESTORE_EMULATOR_BINARY_PATH) {
    if (!fs.existsSync(env.FIRESTORE_EMULATOR_BINARY_PATH)) {
      throw new MissingTool(
        'firestore',
        `FIRESTORE_EMULATOR_BINARY_PATH names ${env.FIRESTORE_EMULATOR_BINARY_PATH}, which does not exist`,
      );
    }
    return { path: env.FIRESTORE_EMULATOR_BINARY_PATH, source: 'FIRESTORE_EMULATOR_BINARY_PATH' };
  }
  const cached = firebaseCache('firestore', env);
  if (fs.existsSync(cached)) return { path: cached, source: 'firebase-tools cache' };
  const sdk = cloudSdkRoot(env);
  const jar =
    sdk && path.join(sdk, 'platform', 'cloud-firestore-emulator', 'cloud-firestore-emulator.jar');
  if (jar && fs.existsSync(jar)) {
    const launcher = writeIfChanged(
      path.join(toolCacheDir(env), 'cloud-firestore-emulator-launcher.jar'),
      launcherJar(FIRESTORE_MAIN_CLASS, jar),
      0o755,
    );
    return { path: launcher, source: `Cloud SDK (${jar})` };
  }
  throw new MissingTool(
    'firestore',
    'the Firestore emulator is missing: run `gcloud components install cloud-firestore-emulator` (or, with internet, `npx firebase setup:emulators:firestore`), or set FIRESTORE_EMULATOR_BINARY_PATH',
  );
}

/** Google's Pub/Sub emulator as an executable: the override, firebase-tools' cache, or a wrapper of the Cloud SDK's. */
export function findPubsubEmulator(env: NodeJS.ProcessEnv = process.env): EmulatorBinary {
  if (env.PUBSUB_EMULATOR_BINARY_PATH) {
    if (!fs.existsSync(env.PUBSUB_EMULATOR_BINARY_PATH)) {
      throw new MissingTool(
        'pubsub',
        `PUBSUB_EMULATOR_BINARY_PATH names ${env.PUBSUB_EMULATOR_BINARY_PATH}, which does not exist`,
      );
    }
    return { path: env.PUBSUB_EMULATOR_BINARY_PATH, source: 'PUBSUB_EMULATOR_BINARY_PATH' };
  }
  const cached = firebaseCache('pubsub', env);
  if (fs.existsSync(cached)) return { path: cached, source: 'firebase-tools cache' };
  const sdk = cloudSdkRoot(env);
  const script =
    sdk && path.join(sdk, 'platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');
  if (script && fs.existsSync(script)) {
    const wrapper = writeIfChanged(
      path.join(toolCacheDir(env), 'cloud-pubsub-emulator'),
      `#!/bin/sh\nexec '${script}' "$@"\n`,
      0o755,
    );
    return { path: wrapper, source: `Cloud SDK (${script})` };
  }
  throw new MissingTool(
    'pubsub',
    'the Pub/Sub emulator is missing: run `gcloud components install pubsub-emulator` (or, with internet, `npx firebase setup:emulators:pubsub`), or set PUBSUB_EMULATOR_BINARY_PATH',
  );
}

/**
 * Where firebase-tools keeps the Emulator UI bundle: `ui-v<version>` in its
 * cache, the version being `ui.main.version` of its download list
 * (firebase-tools 15; `ui.snapshot` only under an experiment).
 */
export function uiBundleDir(env: NodeJS.ProcessEnv = process.env): string {
  const { info, cacheDir } = firebaseDownloads(env);
  const ui = info.ui as { main?: { version?: string } };
  if (!ui.main?.version)
    throw new Error("firebase-tools' download list has no ui.main.version: its layout changed");
  return path.join(cacheDir, `ui-v${ui.main.version}`);
}

/** Whether the UI bundle is there as firebase-tools unpacks it: the client it serves and the server it runs. */
export function hasEmulatorUi(env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = uiBundleDir(env);
  return (
    fs.existsSync(path.join(dir, 'client', 'index.html')) &&
    fs.existsSync(path.join(dir, 'server', 'server.mjs'))
  );
}
