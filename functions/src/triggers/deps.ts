import { loadConfig, SECRET_NAMES, secretManagerTarget, tlsFromSecrets } from '../config';
import { foodClient } from '../food/connection';
import { secretManagerSource } from '../food/secret-source';
import type { Deps } from '../orchestration/deps';

/** What a function needs at run time, built when it runs: never at import, when secrets are absent. */
export function runtimeDeps(): Deps {
  const config = loadConfig();
  // Rotated secrets are read from Secret Manager when a call fails for want of them (food/credential-refresh.ts).
  const target = secretManagerTarget();
  const food = foodClient({
    address: config.address,
    tls: config.tls,
    deadlineMs: config.rpcDeadlineMs,
    createDeadlineMs: config.createDeadlineMs,
    ...(target ? { secrets: secretManagerSource({ ...target, names: SECRET_NAMES, toTls: tlsFromSecrets }) } : {}),
  });
  return { config, food, now: () => new Date() };
}
