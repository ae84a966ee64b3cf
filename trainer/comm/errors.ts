/** Errors of the collectives layer. Peer faults are retryable (exit 75): restart the group. */
import { ExitCode } from '../../api/names.js';
import { RetryableError, RingmasterError } from '../../common/errors.js';

/** A peer died, stalled, or broke the ring; names the peer so logs point at the right pod. */
export class PeerError extends RetryableError {
  constructor(
    message: string,
    readonly peerRank: number,
    readonly peerAddress: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Rendezvous could not complete in time (a rank never joined, DNS never resolved). */
export class RendezvousTimeoutError extends RetryableError {}

/** The job token was missing or wrong: a configuration error, not worth retrying. */
export class AuthError extends RingmasterError {
  override readonly exitCode = ExitCode.invalidInput;
}

/**
 * This process belongs to an older generation of the group than the coordinator: it is a
 * leftover of a restarted group and must not take part.
 */
export class StaleGenerationError extends RingmasterError {}

/** A collective was called on a closed group. */
export class GroupClosedError extends RingmasterError {}

/** The group made no progress for the hang timeout; names the rank to blame (exit 76). */
export class HangError extends PeerError {
  override readonly exitCode: ExitCode = ExitCode.hang;
}
