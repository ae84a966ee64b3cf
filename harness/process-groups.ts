// Process groups started by test harnesses (etcd, kube-apiserver, pods of the node agent).
// Each child runs in its own group (spawn with detached: true) so one signal reaches it and
// everything it forked. Whatever is still tracked when the test process ends — normally,
// or by SIGINT/SIGTERM (Ctrl-C, a CI timeout) — is SIGKILLed, so no server outlives its test.
const live = new Set<number>();
let hooked = false;

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function killAll(): void {
  for (const pid of live) killGroup(pid, 'SIGKILL');
  live.clear();
}

export function trackGroup(pid: number): void {
  live.add(pid);
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      // With this handler gone, the signal's default action (or the runner's own handler) applies.
      process.kill(process.pid, sig);
    });
  }
}

export function untrackGroup(pid: number): void {
  live.delete(pid);
}
