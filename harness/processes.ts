// Long-running child processes of test harnesses (etcd, kube-apiserver, containerd, the
// kubelet…): each in its own process group with its output in a log file, stopped by PID
// (SIGTERM, then SIGKILL after a grace period), never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { killGroup, trackGroup, untrackGroup } from './process-groups.js';

export interface Managed {
  name: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
}

export function startProcess(name: string, bin: string, args: string[], logPath: string): Managed {
  const fd = openSync(logPath, 'a');
  // Own process group, so stop() can signal the process and anything it forked.
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
  if (child.pid === undefined) throw new Error(`${name}: failed to start ${bin}`);
  trackGroup(child.pid);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      if (child.pid !== undefined) untrackGroup(child.pid);
      resolve(code);
    });
    child.once('error', () => resolve(null));
  });
  return { name, child, logPath, exited };
}

export async function stopProcess(p: Managed, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) {
    return;
  }
  killGroup(p.child.pid, 'SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([p.exited, timer])) === 'timeout') {
    killGroup(p.child.pid, 'SIGKILL');
    await p.exited;
  }
}

export function logTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Reject as soon as the process exits: a crashed server must not look like a slow one. */
export function failOnExit(p: Managed): Promise<never> {
  return p.exited.then((code) => {
    throw new Error(`${p.name} exited with ${code} during start:\n${logTail(p.logPath)}`);
  });
}
