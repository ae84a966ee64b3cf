/**
 * A real MinIO server for integration tests, on 127.0.0.1 with a free port and a private data
 * directory. The binary comes from MINIO_BIN or $RINGMASTER_CACHE/bin/minio (built by
 * .ci/setup.d/20-minio.sh); `minioBinary()` is undefined when neither exists so tests can skip.
 */
import { freePort } from '../trainer/local/ports.js';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function minioBinary(): string | undefined {
  const candidates = [
    process.env.MINIO_BIN,
    path.join(
      process.env.RINGMASTER_CACHE ?? path.join(os.homedir(), '.cache', 'ringmaster'),
      'bin',
      'minio',
    ),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export { freePort };

export interface MinioServer {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Graceful stop (SIGTERM), waits for exit. */
  stop(): Promise<void>;
  /** SIGKILL, for fault tests; `start()` brings it back on the same port and data. */
  kill(): Promise<void>;
  start(): Promise<void>;
  createBucket(name: string): Promise<void>;
  /** Last lines of the server's output, for failure messages. */
  output(): string;
}

/**
 * `host`: the address to listen on, 127.0.0.1 unless pods of the real-node cluster must reach
 * it (then the node IP: never 0.0.0.0).
 */
export async function startMinio(opts: {
  dir: string;
  bin?: string;
  host?: string;
}): Promise<MinioServer> {
  const bin = opts.bin ?? minioBinary();
  if (!bin)
    throw new Error('MinIO binary not found (set MINIO_BIN or run .ci/setup.d/20-minio.sh)');
  const port = await freePort();
  const host = opts.host ?? '127.0.0.1';
  const endpoint = `http://${host}:${port}`;
  const accessKey = 'ringmaster-test';
  const secretKey = 'ringmaster-test-secret';
  let child: ChildProcess | undefined;
  let log = '';

  const waitExit = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve();
      else c.once('exit', () => resolve());
    });

  const start = async (): Promise<void> => {
    const c = spawn(bin, ['server', opts.dir, '--address', `${host}:${port}`, '--quiet'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? os.homedir(),
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        MINIO_CI_CD: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    const keep = (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    };
    c.stdout!.on('data', keep);
    c.stderr!.on('data', keep);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`minio exited with ${c.exitCode}: ${log}`);
      try {
        const res = await fetch(`${endpoint}/minio/health/ready`);
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`minio did not become ready in 60 s: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const signal = async (sig: NodeJS.Signals) => {
    const c = child;
    if (!c) return;
    child = undefined;
    c.kill(sig);
    await waitExit(c);
  };

  await start();
  return {
    endpoint,
    accessKey,
    secretKey,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    start,
    output: () => log,
    async createBucket(name: string) {
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
      });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
  };
}
