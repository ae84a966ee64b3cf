/**
 * Shared clusters, on this machine (the local launcher plays the operator): a SIGTERM to one
 * worker (pod deleted, node drained) stops the whole group at one step boundary with a
 * checkpoint of the last step it computed, and the resumed run ends with the weights of an
 * uninterrupted one; a rank frozen with SIGSTOP is named by the hang detector and the group
 * restarts; a rank slowed down is reported as a straggler.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROGRESS_FILE } from '../../../api/names.js';
import type { Progress } from '../../../api/progress.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import { resolveDataUri } from '../../../trainer/data/resolve.js';
import { launchLocal, type LaunchOptions } from '../../../trainer/local/launcher.js';
import type { WorkerMessage } from '../../../trainer/local/messages.js';
import { trainingBackends } from '../../support/backends.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

async function tinySpec(
  output: string,
  cacheDir: string,
  o: { train?: number; epochs?: number; runPolicy?: Record<string, unknown> } = {},
) {
  const data = `synthetic:shapes?train=${o.train ?? 512}&val=40&size=16`;
  const { spec } = parseTrainingRecipe({
    workers: 2,
    data: { train: data, val: data },
    output,
    runPolicy: o.runPolicy ?? {},
    recipe: {
      model: 'resnet_mini',
      batchSize: 16,
      epochs: o.epochs ?? 2,
      lr: 0.1,
      lrWarmupEpochs: (o.epochs ?? 2) > 1 ? 1 : 0,
      trainCropSize: 16,
      valResizeSize: 16,
      valCropSize: 16,
      modelEmaSteps: 2,
      checkpointEverySteps: 5,
    },
  });
  return {
    ...spec,
    data: {
      train: await resolveDataUri(data, 'train', { cacheDir }),
      val: await resolveDataUri(data, 'val', { cacheDir }),
    },
  };
}

async function progressOf(dir: string): Promise<Progress> {
  return JSON.parse(await readFile(join(dir, PROGRESS_FILE), 'utf8')) as Progress;
}

const backend = trainingBackends[0]!;

describe(`shared clusters: preemption, hangs, stragglers (${backend})`, function () {
  this.timeout(600_000);
  let dir: string;
  let cacheDir: string;
  let common: Omit<LaunchOptions, 'spec' | 'maxRestarts'>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-preempt-'));
    cacheDir = join(dir, 'cache');
    common = {
      backend,
      workers: 2,
      cacheDir,
      allowRecipeChange: false,
      out: quiet,
      opTimeoutMs: 30_000,
      loaderThreads: 1,
    };
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  let uninterrupted = '';
  it('an uninterrupted run: goodput 1, lastCheckpoint with step, epoch and time', async () => {
    uninterrupted = join(dir, 'uninterrupted');
    await launchLocal({ ...common, spec: await tinySpec(uninterrupted, cacheDir), maxRestarts: 0 });
    const p = await progressOf(uninterrupted);
    assert.equal(p.phase, 'done');
    assert.deepEqual(
      { computed: p.goodput?.stepsComputed, kept: p.goodput?.stepsKept },
      { computed: 32, kept: 32 },
    );
    const lc = p.lastCheckpoint as { step: number; epoch: number; time: string; uri: string };
    assert.equal(lc.step, 32);
    assert.equal(lc.epoch, 2);
    assert.ok(Date.now() - Date.parse(lc.time) < 600_000, `checkpoint time ${lc.time}`);
    assert.match(lc.uri, /epoch-000002/);
  });

  it('SIGTERM to one worker: the group checkpoints the step it computed, resumes there and ends bit-identical', async () => {
    assert.ok(uninterrupted, 'needs the uninterrupted run');
    const out = join(dir, 'sigterm');
    const seen: WorkerMessage[] = [];
    let lastStepBeforeStop = -1;
    let signalledAt = -1;
    let restarted = false;
    await launchLocal({
      ...common,
      spec: await tinySpec(out, cacheDir, { runPolicy: { terminationGracePeriodSeconds: 30 } }),
      maxRestarts: 1,
      onMessage: (m, group) => {
        seen.push(m);
        if (m.type === 'resumed') restarted = true;
        if (m.type === 'progress' && !restarted) {
          lastStepBeforeStop = m.epoch * m.steps + m.step;
          if (signalledAt < 0 && m.epoch === 1 && m.step === 8) {
            signalledAt = lastStepBeforeStop;
            group.kill(1, 'SIGTERM');
          }
        }
      },
    });
    assert.ok(signalledAt > 0, 'the SIGTERM was sent');
    const resumed = seen.find((m) => m.type === 'resumed');
    assert.ok(resumed && resumed.type === 'resumed', 'the group restarted and resumed');
    const resumedAt = resumed.epoch * 16 + resumed.stepInEpoch;
    // No step computed is lost: the group resumes at the last step it reported. How many steps
    // pass between the launcher seeing step 24 and rank 1 acting on its signal depends on the
    // machine's load (progress reaches the launcher asynchronously; 3 steps at load average 6
    // on 2 cores), so the bound below is a sanity bound, not the claim.
    assert.equal(resumedAt, lastStepBeforeStop, 'resumed at the last step the group computed');
    assert.ok(
      resumedAt > signalledAt && resumedAt <= signalledAt + 6,
      `stopped at ${resumedAt}, signalled after ${signalledAt}`,
    );
    const names = await readdir(join(out, 'checkpoints'));
    assert.ok(
      names.includes(`epoch-000001-step-${String(resumed.stepInEpoch).padStart(7, '0')}`),
      `checkpoints: ${names.join(', ')}`,
    );

    const a = await readFile(join(uninterrupted, 'weights', 'model.safetensors'));
    const b = await readFile(join(out, 'weights', 'model.safetensors'));
    assert.ok(a.equals(b), 'the resumed run ends with the weights of the uninterrupted one');

    const p = await progressOf(out);
    assert.equal(p.goodput?.stepsComputed, 32, 'no step computed twice');
    assert.equal(p.goodput?.stepsKept, 32);
    assert.ok((p.goodput?.secondsLost ?? 0) > 0, 'the restart cost some wall time');
  });

  it('a rank frozen with SIGSTOP: HangDetected names it, the group restarts and finishes', async () => {
    const out = join(dir, 'hang');
    const faults: Array<Extract<WorkerMessage, { type: 'fault' }>> = [];
    let stoppedAt = 0;
    let resumed: Extract<WorkerMessage, { type: 'resumed' }> | undefined;
    await launchLocal({
      ...common,
      spec: await tinySpec(out, cacheDir, { epochs: 1, runPolicy: { hangTimeoutSeconds: 5 } }),
      maxRestarts: 1,
      onMessage: (m, group) => {
        if (m.type === 'fault') faults.push(m);
        if (m.type === 'resumed') resumed = m;
        if (!stoppedAt && m.type === 'progress' && m.step === 7) {
          stoppedAt = Date.now();
          group.kill(1, 'SIGSTOP');
        }
      },
    });
    assert.ok(stoppedAt > 0, 'the fault was injected');
    assert.equal(faults.length, 1, JSON.stringify(faults));
    assert.equal(faults[0]!.reason, 'HangDetected');
    assert.equal(faults[0]!.rank, 1, faults[0]!.message);
    assert.match(faults[0]!.message, /rank 1 .*no progress/);
    // heartbeats would only name it after opTimeoutMs (30 s): this was the hang detector.
    assert.ok(resumed, 'the group restarted');
    assert.deepEqual({ epoch: resumed.epoch, step: resumed.stepInEpoch }, { epoch: 0, step: 5 });
    const p = await progressOf(out);
    assert.equal(p.phase, 'done');
    assert.ok((p.goodput?.stepsComputed ?? 0) >= (p.goodput?.stepsKept ?? 0));
  });

  it('a rank slowed down is reported as a straggler, its peer is not', async () => {
    const out = join(dir, 'straggler');
    const reports: Array<Extract<WorkerMessage, { type: 'stragglers' }>> = [];
    let sawMessages = false;
    let duty: NodeJS.Timeout | undefined;
    try {
      await launchLocal({
        ...common,
        spec: await tinySpec(out, cacheDir, { epochs: 1, train: 768 }),
        maxRestarts: 0,
        onMessage: (m, group) => {
          if (m.type === 'stragglers') reports.push(m);
          if (!duty && m.type === 'progress' && m.step === 2) {
            // Rank 1 runs 30 ms of every 100: a node shared with a noisy neighbour.
            duty = setInterval(() => {
              group.kill(1, 'SIGSTOP');
              setTimeout(() => group.kill(1, 'SIGCONT'), 70);
            }, 100);
          }
          sawMessages = true;
        },
      });
    } finally {
      clearInterval(duty);
    }
    assert.ok(sawMessages, 'messages arrived');
    const first = reports.find((r) => r.stragglers.length > 0);
    assert.ok(first, `no straggler reported: ${JSON.stringify(reports)}`);
    assert.deepEqual(
      first.stragglers.map((s) => s.rank),
      [1],
    );
    assert.ok(first.stragglers[0]!.ratio > 1.5, JSON.stringify(first));
    const p = await progressOf(out);
    assert.equal(p.ranks?.length, 2, 'progress.json lists both ranks');
  });
});
