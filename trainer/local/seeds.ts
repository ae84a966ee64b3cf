/**
 * `ringmaster train RECIPE --local --seeds 0,1,2`: one local run per seed (api/seeds.ts:
 * recipe.seed = n, output `<output>/seed-<n>/`), at most `parallelism` at once, each its own
 * worker group with the launcher's restarts. A seed that stays failed is reported and left
 * out of the summary; an interrupt or an invalid recipe stops the remaining seeds.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { ExitCode, SEEDS_FILE, SEEDS_REPORT_FILE, WorkerEnv } from '../../api/names.js';
import { seedRunSpec, summarizeSeeds, type SeedOutcome } from '../../api/seeds.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import type { SeedRunStatus, SeedSummary } from '../../api/status.js';
import { exitCodeOf, describeError, NotFoundError } from '../../common/errors.js';
import { openStorage, storageOptionsFromEnv } from '../../common/storage/storage.js';
import { METRICS_FILE, parseMetricsJsonl, type EpochMetrics } from '../report/metrics-log.js';
import { renderSeedsReport } from '../report/seeds-html.js';
import { launchLocal, LaunchError, type LaunchOptions } from './launcher.js';
import type { RunSummary } from './messages.js';

export interface SeedRunsOptions extends Omit<LaunchOptions, 'spec'> {
  /** The resolved spec (output absolute, data resolved); its seeds are `seeds`. */
  spec: TrainingRecipeSpec;
  seeds: readonly number[];
  parallelism: number;
  /** The launcher (tests pass a fake one to fail a chosen seed). */
  launch?: (opts: LaunchOptions) => Promise<RunSummary>;
}

export interface SeedRuns {
  seeds: SeedRunStatus[];
  summary: SeedSummary;
  /** URI of seeds.json. */
  file: string;
  /** report.html: the seeds' curves overlaid and the summary table. */
  report: string;
}

/** A seed's metrics.jsonl; empty when the run wrote none (it failed before an epoch ended). */
async function historyOf(run: SeedRunStatus): Promise<EpochMetrics[]> {
  if (!run.output) return [];
  const storage = openStorage(run.output, storageOptionsFromEnv(process.env));
  try {
    return parseMetricsJsonl((await storage.get(METRICS_FILE)).toString('utf8'));
  } catch (err) {
    if (err instanceof NotFoundError) return [];
    throw err;
  } finally {
    storage.close();
  }
}

/** A writer that prefixes each line, so the lines of parallel seeds stay readable. */
function prefixed(out: NodeJS.WriteStream, prefix: string): NodeJS.WriteStream {
  let atLineStart = true;
  return {
    isTTY: false,
    write(chunk: string | Uint8Array) {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      let s = '';
      for (const ch of text) {
        if (atLineStart && ch !== '\n') s += prefix;
        s += ch;
        atLineStart = ch === '\n';
      }
      return out.write(s);
    },
  } as unknown as NodeJS.WriteStream;
}

export async function runSeeds(o: SeedRunsOptions): Promise<SeedRuns> {
  const out = o.out ?? process.stdout;
  const launch = o.launch ?? launchLocal;
  const parallel = Math.max(1, Math.min(o.parallelism, o.seeds.length));
  // The cores are shared by every worker of every seed that runs at once.
  const threads = Math.max(1, Math.floor(availableParallelism() / (o.workers * parallel)));
  const runs: SeedRunStatus[] = o.seeds.map((seed) => ({
    seed,
    phase: 'Pending',
    output: seedRunSpec(o.spec, seed).output,
  }));
  const outcomes: SeedOutcome[] = [];
  let stop: unknown = null;
  let next = 0;

  const runOne = async (i: number) => {
    const seed = o.seeds[i]!;
    const spec = seedRunSpec(o.spec, seed);
    const run = runs[i]!;
    const seedOut = parallel > 1 ? prefixed(out, `[seed ${seed}] `) : out;
    out.write(`\n── seed ${seed} (${i + 1}/${o.seeds.length}) → ${spec.output}\n`);
    run.phase = 'Running';
    try {
      const summary = await launch({
        ...o,
        spec: spec as LaunchOptions['spec'],
        out: seedOut,
        env: {
          ...(parallel > 1 ? { [WorkerEnv.computeThreads]: String(threads) } : {}),
          ...o.env,
        },
      });
      const metrics = {
        ...(summary.acc1 !== null ? { acc1: summary.acc1 } : {}),
        ...(summary.acc5 !== null ? { acc5: summary.acc5 } : {}),
        ...(summary.emaAcc1 !== null ? { emaAcc1: summary.emaAcc1 } : {}),
        ...(summary.emaAcc5 !== null ? { emaAcc5: summary.emaAcc5 } : {}),
      };
      Object.assign(run, {
        phase: 'Succeeded',
        metrics,
        ...(summary.weights ? { weights: summary.weights } : {}),
      });
      outcomes.push({ seed, ok: true, metrics });
    } catch (err) {
      const message = describeError(err);
      Object.assign(run, { phase: 'Failed', message });
      outcomes.push({ seed, ok: false, message });
      out.write(`seed ${seed} failed: ${message}\n`);
      const code = exitCodeOf(err);
      // Every seed would fail the same way (bad recipe), or the user asked to stop.
      if (code === ExitCode.invalidInput || code === ExitCode.interrupted) stop ??= err;
    }
  };

  const lane = async () => {
    while (stop === null && next < o.seeds.length) await runOne(next++);
  };
  await Promise.all(Array.from({ length: parallel }, lane));

  const summary = summarizeSeeds(outcomes);
  const dir = resolve(o.spec.output);
  await mkdir(dir, { recursive: true });
  const file = join(dir, SEEDS_FILE);
  await writeFile(file, JSON.stringify({ seeds: runs, summary }, null, 2) + '\n');
  const report = join(dir, SEEDS_REPORT_FILE);
  const curves = await Promise.all(
    runs.map(async (run) => ({ run, history: await historyOf(run) })),
  );
  await writeFile(
    report,
    renderSeedsReport(curves, summary, {
      title: `Ringmaster seeds: ${o.spec.recipe.model}`,
      facts: {
        model: o.spec.recipe.model,
        workers: o.workers,
        epochs: o.spec.recipe.epochs,
        'global batch': o.spec.recipe.batchSize * o.workers,
        output: dir,
      },
    }),
  );
  if (stop !== null) throw stop;
  if (summary.failed > 0) {
    const failed = runs.filter((r) => r.phase === 'Failed').map((r) => r.seed);
    throw new SeedsFailedError(
      `seed(s) ${failed.join(', ')} failed; the summary holds the other ${summary.n}`,
      { seeds: runs, summary, file, report },
    );
  }
  return { seeds: runs, summary, file, report };
}

/** Some seeds failed after their restarts: the others' results are still reported. */
export class SeedsFailedError extends LaunchError {
  constructor(
    message: string,
    readonly runs: SeedRuns,
  ) {
    super(message, ExitCode.retryable);
  }
}
