/**
 * A failed worker's verdict for whoever restarts the group: one JSON line (`TerminationNote`,
 * api/progress.ts) in the pod's termination message, which the operator reads from the pod
 * status, and a message to the local launcher. Best effort: the exit code alone still says
 * whether to retry.
 */
import { writeFileSync } from 'node:fs';
import { ExitCode } from '../../api/names.js';
import type { TerminationNote } from '../../api/progress.js';
import { exitCodeOf } from '../../common/errors.js';
import { HangError, PeerError } from '../comm/index.js';
import { sendToLauncher } from '../local/messages.js';

export function terminationNote(err: unknown): TerminationNote {
  const message = err instanceof Error ? err.message : String(err);
  const exitCode = exitCodeOf(err);
  return {
    reason: err instanceof HangError ? 'HangDetected' : 'WorkerFailed',
    exitCode,
    ...(err instanceof PeerError ? { rank: err.peerRank } : {}),
    message: message.length > 2000 ? `${message.slice(0, 1997)}...` : message,
  };
}

export function reportFailure(err: unknown, rank: number, path: string): void {
  const note = terminationNote(err);
  if (note.exitCode === ExitCode.interrupted) return;
  if (note.rank !== undefined) {
    sendToLauncher(
      { type: 'fault', reason: note.reason, rank: note.rank, message: note.message },
      rank,
    );
  }
  if (!path) return;
  try {
    writeFileSync(path, JSON.stringify(note) + '\n');
  } catch {
    // The termination log is advisory; the exit code decides.
  }
}
