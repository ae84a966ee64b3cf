/**
 * `ringmaster train RECIPE --local`: the worker group as processes on this machine, the ring
 * on loopback, a local directory as the bucket. It does locally what the operator does in a
 * cluster: start the whole group, restart the whole group after a retryable failure (the
 * workers resume from the last checkpoint), and show progress.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ExitCode, WorkerEnv } from '../../api/names.js';
import { largestFeasibleSize, type ElasticRange } from '../../api/elastic.js';
import { RingmasterError } from '../../common/errors.js';
import { formatProgressLine } from '../report/progress.js';
import type { RunSummary, WorkerMessage } from './messages.js';
import { freePort } from './ports.js';

const BIN = fileURLToPath(new URL('../../bin/ringmaster.js', import.meta.url));

export interface LaunchOptions {
  /** The resolved recipe spec (defaults applied, data URIs resolved, output absolute). */
  spec: Record<string, unknown> & { workers: number; output: string };
  workers: number;
  /** Restarts of the whole group after retryable failures. */
  maxRestarts: number;
  backend?: string;
  cacheDir: string;
  allowRecipeChange: boolean;
  /** Extra environment for the workers (e.g. S3 endpoint and credentials). */
  env?: Record<string, string>;
  /** Where progress goes; a TTY gets a live line. */
  out?: NodeJS.WriteStream;
  /** Collective deadline per operation. */
  opTimeoutMs?: number;
  /** Decode threads per worker. */
  loaderThreads?: number;
  /**
   * Elastic drill: at global step `atStep` the highest rank is killed as if its node were lost;
   * the group restarts at the largest size of runPolicy.elastic that the remaining "capacity"
   * allows (from the last checkpoint), and after `forSteps` more steps the capacity returns:
   * the group checkpoints (SIGTERM) and restarts at full size. Resizes are not restarts.
   */
  simulateLoss?: { atStep: number; forSteps: number };
  /** Sees every message of rank 0 (tests use it to inject faults at a chosen step). */
  onMessage?: (
    msg: WorkerMessage,
    group: { kill(rank: number, signal?: NodeJS.Signals): void },
  ) => void;
}

export class LaunchError extends RingmasterError {
  constructor(
    message: string,
    override readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

interface WorkerProc {
  rank: number;
  child: ChildProcess;
  log: WriteStream;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const LEVELS: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };

export async function launchLocal(opts: LaunchOptions): Promise<RunSummary> {
  const out = opts.out ?? process.stdout;
  const tty = Boolean(out.isTTY);
  const runDir = resolve(opts.spec.output);
  const logDir = join(runDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const recipePath = join(runDir, 'recipe.json');
  await writeFile(recipePath, JSON.stringify(opts.spec, null, 2));
  const token = randomBytes(24).toString('hex');

  let backendShown = false;
  let liveLine = false;
  const print = (s: string) => {
    if (liveLine) out.write('\r\x1b[K');
    liveLine = false;
    out.write(s + '\n');
  };
  const live = (s: string) => {
    if (tty) {
      out.write('\r\x1b[K' + s);
      liveLine = true;
    }
  };

  let stopping = 0;
  let lastPlainProgress = 0;
  let summary: RunSummary | undefined;
  const onSigint = () => {
    // A terminal's Ctrl-C and a process-group signal can arrive together: count a second
    // interrupt only after a moment.
    if (stopping && Date.now() - stopping < 1000) return;
    if (stopping) {
      print('second interrupt: killing the workers');
      for (const w of current) w.child.kill('SIGKILL');
      return;
    }
    stopping = Date.now();
    print(
      'interrupt: the workers stop at the next step and write a checkpoint (Ctrl-C again to kill)',
    );
    // Workers in the same terminal get SIGINT from the terminal; send it anyway for non-TTY runs.
    for (const w of current) w.child.kill('SIGINT');
  };
  let current: WorkerProc[] = [];
  const L = opts.spec.workers;
  let size = opts.workers;
  const drill = elasticDrill(opts, (line) => print(line));
  const control = {
    kill(rank: number, signal: NodeJS.Signals = 'SIGKILL') {
      current[rank]?.child.kill(signal);
    },
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  try {
    let restarts = 0;
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
      drill?.groupStarted(size);
      current = Array.from({ length: size }, (_, rank) => {
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          ...opts.env,
          [WorkerEnv.rank]: String(rank),
          [WorkerEnv.worldSize]: String(size),
          [WorkerEnv.coordinator]: `127.0.0.1:${port}`,
          [WorkerEnv.listen]: `127.0.0.1:${rank === 0 ? port : ports[rank]}`,
          [WorkerEnv.advertise]: `127.0.0.1:${rank === 0 ? port : ports[rank]}`,
          // Any free port: the one after the listen port is not known to be free here.
          [WorkerEnv.dataListen]: '127.0.0.1:0',
          [WorkerEnv.token]: token,
          [WorkerEnv.generation]: String(attempt),
          [WorkerEnv.recipe]: recipePath,
          [WorkerEnv.cacheDir]: opts.cacheDir,
          // The machine's cores shared between the ranks: TensorFlow sizes its pools for all
          // of them otherwise, and N ranks would run N times as many threads as cores.
          [WorkerEnv.computeThreads]:
            opts.env?.[WorkerEnv.computeThreads] ??
            process.env[WorkerEnv.computeThreads] ??
            String(Math.max(1, Math.floor(availableParallelism() / size))),
          // The same share as each rank's CPU request, as a pod's: the loader sizes by it.
          [WorkerEnv.cpuRequestMillicores]:
            opts.env?.[WorkerEnv.cpuRequestMillicores] ??
            String(Math.max(1, Math.floor(availableParallelism() / size)) * 1000),
          ...(opts.backend ? { [WorkerEnv.backend]: opts.backend } : {}),
          ...(opts.allowRecipeChange ? { [WorkerEnv.allowRecipeChange]: '1' } : {}),
          ...(opts.opTimeoutMs ? { [WorkerEnv.opTimeoutMs]: String(opts.opTimeoutMs) } : {}),
          ...policyEnv(opts.spec),
        };
        const args = [
          'worker',
          ...(opts.loaderThreads !== undefined
            ? ['--loader-threads', String(opts.loaderThreads)]
            : []),
        ];
        const child = fork(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
        const log = createWriteStream(join(logDir, `worker-${rank}.log`), { flags: 'a' });
        child.stdout?.pipe(log, { end: false });
        const lines = createInterface({ input: child.stderr! });
        lines.on('line', (line) => {
          log.write(line + '\n');
          try {
            const rec = JSON.parse(line) as { level?: number; msg?: string } & Record<
              string,
              unknown
            >;
            const level = LEVELS[rec.level ?? 0];
            if (level) print(`[rank ${rank}] ${level}: ${rec.msg ?? line}`);
          } catch {
            print(`[rank ${rank}] ${line}`);
          }
        });
        child.on('message', (m: WorkerMessage) => {
          opts.onMessage?.(m, control);
          drill?.onMessage(m, control);
          if (m.type === 'progress') {
            const line = formatProgressLine(m);
            if (tty) live(line);
            else if (Date.now() - lastPlainProgress > 10_000 || m.step === m.steps) {
              lastPlainProgress = Date.now();
              print(line);
            }
          } else if (m.type === 'epoch') {
            const r = m.metrics;
            print(
              `epoch ${r.epoch + 1}: loss ${r.trainLoss.toFixed(4)}  ` +
                `train Acc@1 ${r.trainAcc1.toFixed(2)}  Acc@1 ${r.acc1.toFixed(2)}  ` +
                `Acc@5 ${r.acc5.toFixed(2)}` +
                (r.emaAcc1 === null
                  ? ''
                  : `  EMA Acc@1 ${r.emaAcc1.toFixed(2)}  EMA Acc@5 ${r.emaAcc5?.toFixed(2)}`) +
                `  ${r.imagesPerSec.toFixed(1)} img/s  ${r.seconds.toFixed(0)} s` +
                (r.evalBiased ? '  (eval padded)' : ''),
            );
          } else if (m.type === 'backend') {
            if (!backendShown) print(m.line);
            backendShown = true;
          } else if (m.type === 'resumed') {
            print(
              `resumed from checkpoint ${m.checkpoint} (epoch ${m.epoch + 1}, step ${m.stepInEpoch})`,
            );
          } else if (m.type === 'done') {
            summary = m.summary;
          }
        });
        const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
          child.on('exit', (code, signal) => res({ code, signal })),
        );
        return { rank, child, log, exit };
      });

      // The first failure decides; the others follow within the collective deadline, or are
      // stopped so that no process outlives the group.
      const first = await Promise.race(
        current.map((w) => w.exit.then((e) => ({ ...e, rank: w.rank }))),
      );
      const group = current;
      // A hang verdict is final: the hung rank may never exit by itself (SIGSTOP, a stuck
      // kernel), so the group goes now, as the operator deletes the pods.
      if (first.code === ExitCode.hang) {
        for (const w of group) if (w.child.exitCode === null) w.child.kill('SIGKILL');
      }
      const reaper =
        first.code !== 0
          ? setTimeout(
              () => {
                for (const w of group) if (w.child.exitCode === null) w.child.kill('SIGKILL');
              },
              (opts.opTimeoutMs ?? 120_000) + 30_000,
            )
          : undefined;
      const results = await Promise.all(group.map((w) => w.exit));
      clearTimeout(reaper);
      await Promise.all(current.map((w) => new Promise((r) => w.log.end(r))));
      if (results.every((r) => r.code === 0)) {
        if (!summary) throw new LaunchError('workers exited without a summary', ExitCode.internal);
        return summary;
      }
      const failed =
        first.code !== 0
          ? first
          : { ...results.find((r) => r.code !== 0)!, rank: results.findIndex((r) => r.code !== 0) };
      const why = failed.signal ? `signal ${failed.signal}` : `exit code ${failed.code}`;
      if (stopping) {
        throw new LaunchError(
          `stopped on request (rank ${failed.rank}: ${why}); run again to resume`,
          ExitCode.interrupted,
        );
      }
      const terminal = failed.code === ExitCode.invalidInput;
      const resize = terminal ? null : drill?.takeResize();
      if (resize) {
        print(
          `resizing the group ${size} → ${resize.to} worker(s) (${resize.why}); ` +
            `each runs ${L / resize.to} accumulation micro-step(s); resuming from the last checkpoint`,
        );
        size = resize.to;
        continue;
      }
      if (terminal || restarts >= opts.maxRestarts) {
        throw new LaunchError(
          `rank ${failed.rank} failed (${why})` +
            (terminal ? '' : ` after ${restarts} restart(s)`) +
            `; logs in ${logDir}`,
          terminal ? ExitCode.invalidInput : ExitCode.retryable,
        );
      }
      restarts += 1;
      print(
        `rank ${failed.rank} failed (${why}); restarting the group (${restarts}/${opts.maxRestarts}), resuming from the last checkpoint`,
      );
    }
  } finally {
    if (liveLine) out.write('\n');
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** The local stand-in for lost and returning capacity (LaunchOptions.simulateLoss). */
function elasticDrill(opts: LaunchOptions, print: (line: string) => void) {
  const sim = opts.simulateLoss;
  if (!sim) return null;
  const L = opts.spec.workers;
  const range = (opts.spec.runPolicy as { elastic?: ElasticRange } | undefined)?.elastic;
  if (!range) {
    throw new LaunchError(
      'simulating a lost worker needs spec.runPolicy.elastic (minWorkers, maxWorkers)',
      ExitCode.invalidInput,
    );
  }
  let phase: 'before' | 'lost' | 'shrunk' | 'returned' | 'done' = 'before';
  let resize: { to: number; why: string } | null = null;
  let shrunkFrom = 0;
  let size = opts.workers;
  return {
    groupStarted(n: number) {
      size = n;
      if (phase === 'lost') phase = 'shrunk';
      if (phase === 'returned') phase = 'done';
      shrunkFrom = -1;
    },
    onMessage(m: WorkerMessage, group: { kill(rank: number, signal?: NodeJS.Signals): void }) {
      if (m.type !== 'progress') return;
      const step = m.epoch * m.steps + m.step;
      if (phase === 'before' && step >= sim.atStep && size > 1) {
        const to = largestFeasibleSize(L, range, size - 1);
        if (to === null) return;
        phase = 'lost';
        resize = { to, why: `rank ${size - 1} lost at step ${step}` };
        print(`simulated loss: killing rank ${size - 1} at step ${step}`);
        group.kill(size - 1, 'SIGKILL');
      } else if (phase === 'shrunk') {
        if (shrunkFrom < 0) shrunkFrom = step;
        if (step - shrunkFrom < sim.forSteps) return;
        const to = largestFeasibleSize(L, range, L);
        if (to === null || to <= size) return;
        phase = 'returned';
        resize = { to, why: `capacity returned at step ${step}` };
        print(`simulated capacity back: checkpointing the ${size}-worker group at step ${step}`);
        for (let r = 0; r < size; r++) group.kill(r, 'SIGTERM');
      }
    },
    takeResize(): { to: number; why: string } | null {
      const r = resize;
      resize = null;
      return r;
    },
  };
}

/** The run policy's knobs a worker needs, as the operator passes them to pods. */
function policyEnv(spec: LaunchOptions['spec']): Record<string, string> {
  const p = (spec.runPolicy ?? {}) as {
    hangTimeoutSeconds?: number;
    terminationGracePeriodSeconds?: number;
  };
  return {
    ...(p.hangTimeoutSeconds
      ? { [WorkerEnv.hangTimeoutSeconds]: String(p.hangTimeoutSeconds) }
      : {}),
    ...(p.terminationGracePeriodSeconds
      ? { [WorkerEnv.terminationGraceSeconds]: String(p.terminationGracePeriodSeconds) }
      : {}),
  };
}
