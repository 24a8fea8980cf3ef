// Errors that handlers throw to answer a call with a gRPC status.
import * as grpc from '@grpc/grpc-js';

export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${grpc.status[code]}: ${details}`);
    this.name = 'RpcError';
  }
}

export const invalidArgument = (details: string): RpcError =>
  new RpcError(grpc.status.INVALID_ARGUMENT, details);
export const notFound = (details: string): RpcError => new RpcError(grpc.status.NOT_FOUND, details);
export const failedPrecondition = (details: string): RpcError =>
  new RpcError(grpc.status.FAILED_PRECONDITION, details);
