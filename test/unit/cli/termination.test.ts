/** A failed worker's termination note (trainer/cli/termination.ts), read back by the operator. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../../../api/names.js';
import { parseTerminationNote } from '../../../api/progress.js';
import { reportFailure, terminationNote } from '../../../trainer/cli/termination.js';
import { HangError, PeerError } from '../../../trainer/comm/index.js';

describe('termination note', () => {
  it('a hang names the rank to blame, with the hang exit code', () => {
    const n = terminationNote(new HangError('hang: rank 2 made no progress', 2, '10.0.0.3:29500'));
    assert.deepEqual(n, {
      reason: 'HangDetected',
      exitCode: ExitCode.hang,
      rank: 2,
      message: 'hang: rank 2 made no progress',
    });
    const p = terminationNote(new PeerError('rank 1 died', 1, 'x'));
    assert.deepEqual([p.reason, p.exitCode, p.rank], ['WorkerFailed', ExitCode.retryable, 1]);
  });

  it('is written where RINGMASTER_TERMINATION_LOG says, and the operator reads it back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rm-term-'));
    try {
      const path = join(dir, 'termination-log');
      reportFailure(new HangError('hang: rank 1', 1, 'a:1'), 0, path);
      const back = parseTerminationNote(await readFile(path, 'utf8'));
      assert.equal(back?.reason, 'HangDetected');
      assert.equal(back?.rank, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
