import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReport } from '../../../trainer/report/html.js';
import {
  MetricsLog,
  parseMetricsJsonl,
  type EpochMetrics,
} from '../../../trainer/report/metrics-log.js';
import { formatDuration, formatProgressLine } from '../../../trainer/report/progress.js';
import { openStorage } from '../../../common/storage/storage.js';

const row = (epoch: number, ema: number | null = 10 + epoch): EpochMetrics => ({
  epoch,
  lr: 0.1 / (epoch + 1),
  trainLoss: 2 - epoch * 0.1,
  trainAcc1: 20,
  trainAcc5: 60,
  imagesPerSec: 100,
  seconds: 12,
  acc1: 30 + epoch,
  acc5: 80,
  emaAcc1: ema,
  emaAcc5: ema === null ? null : 90,
  evalBiased: false,
});

describe('run report', () => {
  it('rewrites metrics.jsonl and replaces epochs redone after a resume', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rm-report-'));
    try {
      const log = new MetricsLog(openStorage(dir));
      await log.append(row(0));
      await log.append(row(1));
      await log.append(row(2));
      // resumed from the end of epoch 0: epochs 1.. are redone
      const resumed = new MetricsLog(openStorage(dir), log.history.slice(0, 1));
      await resumed.append({ ...row(1), acc1: 99 });
      const back = parseMetricsJsonl(await readFile(join(dir, 'metrics.jsonl'), 'utf8'));
      assert.deepEqual(
        back.map((r) => [r.epoch, r.acc1]),
        [
          [0, 30],
          [1, 99],
        ],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('draws one curve per series and escapes text', () => {
    const html = renderReport([row(0), row(1), row(2)], {
      title: 'demo <run>',
      facts: { model: 'resnet_mini & co' },
    });
    assert.match(html, /demo &#60;run&#62;/);
    assert.match(html, /resnet_mini &#38; co/);
    assert.doesNotMatch(html, /<script/);
    // loss, lr, model Acc@1, EMA Acc@1, throughput
    assert.equal((html.match(/<path d="M/g) ?? []).length, 5);
  });

  it('lists train Acc@1 / Acc@5 per epoch, a dash for rows of runs that did not measure them', () => {
    const old = { ...row(0), trainAcc1: null, trainAcc5: undefined } as unknown as EpochMetrics;
    const html = renderReport([old, row(1)], { title: 't', facts: {} });
    assert.match(html, /<th>train Acc@1<\/th><th>train Acc@5<\/th>/);
    assert.match(html, /<td>1\.9000<\/td><td>20\.00<\/td><td>60\.00<\/td>/);
    assert.match(html, /<td>2\.0000<\/td><td>–<\/td><td>–<\/td>/);
  });

  it('omits the EMA curve when the run has no EMA', () => {
    const html = renderReport([row(0, null), row(1, null)], { title: 't', facts: {} });
    assert.equal((html.match(/<path d="M/g) ?? []).length, 4);
  });

  it('formats the live progress line', () => {
    const line = formatProgressLine({
      epoch: 1,
      epochs: 6,
      step: 5,
      steps: 10,
      loss: 1.23456,
      lr: 0.05,
      imagesPerSec: 321.4,
      etaSeconds: 3725,
    });
    assert.match(line, /^epoch 2\/6 /);
    assert.match(line, /5\/10/);
    assert.match(line, /loss 1\.2346/);
    assert.match(line, /ETA 1:02:05/);
    assert.equal(formatDuration(null), '--:--');
  });
});
