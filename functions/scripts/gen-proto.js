#!/usr/bin/env node
// Generates TypeScript types from the food.v1 proto with @grpc/proto-loader's
// own generator: pure JavaScript from npm, no protoc binary and no install
// scripts. The flags must match the options the code passes to
// protoLoader.load (see src/food/proto.ts and food-service/src/proto.ts), or
// the types would describe objects the loader never produces.
//
// usage: gen-proto.js [--proto DIR] [--copy-to DIR] --out DIR
//   --proto    where food/v1/food.proto lives (default: ../proto, the repo's copy)
//   --copy-to  also copy the proto tree here, so a deployable folder carries it
//   --out      where the generated .ts files go
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const here = path.resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    proto: { type: 'string', default: path.join(here, '..', 'proto') },
    'copy-to': { type: 'string' },
    out: { type: 'string' },
  },
});
if (!values.out) {
  console.error('gen-proto: --out DIR is required');
  process.exit(2);
}

let protoRoot = path.resolve(values.proto);
const copyTo = values['copy-to'] && path.resolve(values['copy-to']);
const protoFile = path.join('food', 'v1', 'food.proto');
if (copyTo) {
  if (fs.existsSync(path.join(protoRoot, protoFile))) {
    fs.rmSync(copyTo, { recursive: true, force: true });
    fs.cpSync(protoRoot, copyTo, { recursive: true });
  } else if (!fs.existsSync(path.join(copyTo, protoFile))) {
    console.error(
      `gen-proto: ${path.join(protoRoot, protoFile)} not found and no copy in ${copyTo}`,
    );
    process.exit(1);
  }
  // A deployed functions folder has no ../proto; its own copy is the source.
  protoRoot = copyTo;
}

const generator = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
fs.rmSync(values.out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    generator,
    '--grpcLib=@grpc/grpc-js',
    '--enums=String',
    '--longs=String',
    '--defaults',
    '--oneofs',
    '--includeComments',
    `--includeDirs=${protoRoot}`,
    `--outDir=${path.resolve(values.out)}`,
    protoFile,
  ],
  { stdio: 'inherit' },
);
