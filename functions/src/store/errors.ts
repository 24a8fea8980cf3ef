import { status } from '@grpc/grpc-js';

/** Firestore reports a lost create() race with gRPC ALREADY_EXISTS. */
export function isAlreadyExists(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === status.ALREADY_EXISTS;
}
