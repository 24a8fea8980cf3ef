// A stand-in for Secret Manager: a local gRPC server (plain text, loopback)
// that serves AccessSecretVersion from the service definition the
// @google-cloud/secret-manager package itself ships, so the real client
// talks to it exactly as it talks to Google. Secret Manager has no emulator.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';

const PACKAGE_DIR = path.dirname(require.resolve('@google-cloud/secret-manager/package.json'));
// google-gax ships the google/api and google/iam protos the service imports (its exports hide package.json).
const GAX_MAIN = require.resolve('google-gax', { paths: [PACKAGE_DIR] });
const GAX_DIR = GAX_MAIN.slice(
  0,
  GAX_MAIN.lastIndexOf(`${path.sep}google-gax${path.sep}`) + '/google-gax'.length,
);

export interface FakeSecretManager {
  /** host:port, for SECRET_MANAGER_EMULATOR_HOST. */
  host: string;
  /** Adds a version of `secret` in `project`: what `firebase functions:secrets:set` does. */
  addVersion(project: string, secret: string, value: string): void;
  /** AccessSecretVersion calls served, by secret name. */
  accesses: Map<string, number>;
  stop(): Promise<void>;
}

interface AccessRequest {
  name: string;
}

export async function startFakeSecretManager(): Promise<FakeSecretManager> {
  const definition = protoLoader.loadSync('google/cloud/secretmanager/v1/service.proto', {
    includeDirs: [path.join(PACKAGE_DIR, 'build', 'protos'), path.join(GAX_DIR, 'build', 'protos')],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
  });
  const service = (
    grpc.loadPackageDefinition(definition) as unknown as {
      google: {
        cloud: {
          secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } };
        };
      };
    }
  ).google.cloud.secretmanager.v1.SecretManagerService.service;

  const versions = new Map<string, string[]>();
  const accesses = new Map<string, number>();
  const server = new grpc.Server();
  const unimplemented: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service)) {
    unimplemented[method] = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback({
        code: grpc.status.UNIMPLEMENTED,
        details: `${method} is not served by the stand-in`,
      });
  }
  server.addService(service, {
    ...unimplemented,
    AccessSecretVersion: (
      call: grpc.ServerUnaryCall<AccessRequest, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const match = /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\/(latest|\d+)$/.exec(
        call.request.name,
      );
      if (!match)
        return callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `bad name ${call.request.name}`,
        });
      const [, project, secret, version] = match;
      const key = `projects/${project}/secrets/${secret}`;
      accesses.set(secret, (accesses.get(secret) ?? 0) + 1);
      const list = versions.get(key) ?? [];
      const index = version === 'latest' ? list.length - 1 : Number(version) - 1;
      if (index < 0 || index >= list.length)
        return callback({ code: grpc.status.NOT_FOUND, details: `${call.request.name} not found` });
      callback(null, {
        name: `${key}/versions/${index + 1}`,
        payload: { data: Buffer.from(list[index]) },
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    host: `127.0.0.1:${port}`,
    accesses,
    addVersion(project, secret, value) {
      const key = `projects/${project}/secrets/${secret}`;
      versions.set(key, [...(versions.get(key) ?? []), value]);
    },
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
