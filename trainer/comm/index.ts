/** Collectives for the trainer: a ring over gRPC. See docs/collectives.md. */
export { connectGroup, type Group, type GroupOptions, type TlsOptions } from './group.js';
export {
  AuthError,
  GroupClosedError,
  PeerError,
  RendezvousTimeoutError,
  StaleGenerationError,
} from './errors.js';
export { CollectiveMismatchError } from './ring.js';
