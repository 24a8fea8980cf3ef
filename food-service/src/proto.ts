// Loads food.v1 at run time. The loader options must match the flags that
// functions/scripts/gen-proto.js passes to proto-loader-gen-types, or the
// generated types would describe objects the loader never produces.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';
import type { ProtoGrpcType } from './generated/food';

export const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
export const PROTO_FILE = 'food/v1/food.proto';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let loaded: ProtoGrpcType | undefined;

/** The typed food.v1 package; parsed once per process. */
export function loadFoodProto(): ProtoGrpcType {
  if (!loaded) {
    const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
    // The generated ProtoGrpcType describes exactly this package definition.
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return loaded;
}
