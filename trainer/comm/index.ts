/**
 * Collectives for the trainer: a ring of processes. gRPC carries the control plane
 * (rendezvous, heartbeats, fault verdicts); the ring's frames travel over a TCP data plane
 * by default (docs/adr/0085), or over the gRPC Pull stream. See docs/collectives.md, and
 * group.ts for how the parts fit together.
 */
export { connectGroup, type Group } from './group.js';
export { type GroupOptions, type TlsOptions } from './options.js';
export {
  AuthError,
  GroupClosedError,
  HangError,
  PeerError,
  RendezvousTimeoutError,
  StaleGenerationError,
} from './errors.js';
export { CollectiveMismatchError } from './ring.js';
export { StepClock, type StepReport } from './step-clock.js';
