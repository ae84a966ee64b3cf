/** A worker's ring, connected from its configuration (training and eval-only recipes alike). */
import { connectGroup, type Group, type StepClock } from './comm/index.js';
import type { Logger } from '../common/log.js';
import type { WorkerConfig } from './worker-config.js';

export function connectWorkerGroup(
  cfg: Readonly<WorkerConfig>,
  log: Logger,
  clock: StepClock,
): Promise<Group> {
  return connectGroup({
    rank: cfg.rank,
    worldSize: cfg.worldSize,
    coordinator: cfg.coordinator,
    listen: cfg.listen,
    advertise: cfg.advertise,
    transport: cfg.transport,
    ...(cfg.commChannels !== undefined ? { channels: cfg.commChannels } : {}),
    ...(cfg.dataListen ? { dataListen: cfg.dataListen } : {}),
    token: cfg.token,
    generation: cfg.generation,
    deadlines: { rendezvousMs: cfg.rendezvousTimeoutMs, opMs: cfg.opTimeoutMs },
    logger: log,
    clock,
    ...(cfg.hangTimeoutSeconds !== undefined
      ? { hangTimeoutMs: cfg.hangTimeoutSeconds * 1000 }
      : {}),
  });
}
