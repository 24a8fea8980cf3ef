// Loads the food.v1 contract at run time with @grpc/proto-loader, typed by the declarations that
// `npm run gen` generates from the same .proto file.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';

import type { ProtoGrpcType } from '../generated/food';

// Must match scripts/gen-proto.js's flags: the generated types describe the objects these options
// make (camelCase fields, enums as their names, defaults filled in).
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

// The build copies proto/ into functions/proto, so the deployed folder carries its own contract.
const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

let loaded: ProtoGrpcType | undefined;

/** Parsed once per process, on first use, so deploy-time discovery never pays for it. */
export function foodProto(): ProtoGrpcType {
  if (!loaded) {
    const definition = protoLoader.loadSync('food/v1/food.proto', {
      ...LOADER_OPTIONS,
      includeDirs: [PROTO_ROOT],
    });
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return loaded;
}
