// What a real node changes on the host, recorded before it starts and restored after it
// stops: sysctls (the kubelet's kernel defaults, the bridge plugin's ip_forward), iptables
// and ip6tables tables (the kubelet's KUBE-* chains, CNI chains), network namespaces under
// /run/netns, network links, cgroup directories (the kubelet's kubepods tree) and host
// directories the kubelet creates whatever its flags say. Mounts under the cluster's own
// directory are unmounted by the node itself (harness/node.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Sysctls the kubelet (container manager) and the bridge CNI plugin set. */
export const NODE_SYSCTLS = [
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'net/ipv4/ip_forward',
] as const;

/** Host directories the kubelet creates regardless of --root-dir (1.31). */
export const NODE_HOST_DIRS = ['/var/log/containers', '/var/log/pods', '/run/netns'] as const;

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Top-level cgroup the kubelet (cgroupfs driver, cgroupsPerQOS) creates in each hierarchy. */
const KUBEPODS = 'kubepods';

export interface HostSnapshot {
  sysctls: Map<string, string>;
  iptables: { v4: string; v6: string };
  netns: Set<string>;
  links: Set<string>;
  cgroups: Set<string>;
  dirs: Set<string>;
}

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(join('/proc/sys', name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function save(tool: 'iptables-save' | 'ip6tables-save'): string {
  try {
    return normalizeIptables(
      execFileSync(tool, [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
  } catch {
    return '';
  }
}

/** An iptables-save dump without its comment lines (timestamps) and packet counters. */
export function normalizeIptables(dump: string): string {
  return dump
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');
}

function links(): Set<string> {
  return new Set(readdirSync('/sys/class/net'));
}

function netns(): Set<string> {
  return new Set(existsSync('/run/netns') ? readdirSync('/run/netns') : []);
}

function kubepodsCgroups(): Set<string> {
  const found = new Set<string>();
  if (!existsSync(CGROUP_ROOT)) return found;
  for (const h of readdirSync(CGROUP_ROOT)) {
    const p = join(CGROUP_ROOT, h, KUBEPODS);
    if (existsSync(p)) found.add(p);
  }
  return found;
}

export function snapshotHost(): HostSnapshot {
  const sysctls = new Map<string, string>();
  for (const s of NODE_SYSCTLS) {
    const v = readSysctl(s);
    if (v !== undefined) sysctls.set(s, v);
  }
  return {
    sysctls,
    iptables: { v4: save('iptables-save'), v6: save('ip6tables-save') },
    netns: netns(),
    links: links(),
    cgroups: kubepodsCgroups(),
    dirs: new Set(NODE_HOST_DIRS.filter((d) => existsSync(d))),
  };
}

/** Table names in an iptables-save dump ("*filter" lines). */
export function savedTables(dump: string): string[] {
  return dump
    .split('\n')
    .filter((l) => l.startsWith('*'))
    .map((l) => l.slice(1).trim());
}

function restoreIptables(family: 'v4' | 'v6', before: string, problems: string[]): void {
  const [saveTool, restoreTool, tool] =
    family === 'v4'
      ? ['iptables-save', 'iptables-restore', 'iptables']
      : ['ip6tables-save', 'ip6tables-restore', 'ip6tables'];
  const now = save(saveTool as 'iptables-save' | 'ip6tables-save');
  if (now === before) return;
  try {
    // Tables in the snapshot get back exactly their recorded rules and chains.
    if (before.trim())
      execFileSync(restoreTool, [], { input: before, stdio: ['pipe', 'ignore', 'pipe'] });
    // Tables that did not exist before are emptied, then removed (iptables-nft keeps them
    // as nftables tables; `nft` from the nftables package deletes them).
    const had = new Set(savedTables(before));
    for (const t of savedTables(now)) {
      if (had.has(t)) continue;
      execFileSync(tool, ['-t', t, '-F'], { stdio: 'ignore' });
      execFileSync(tool, ['-t', t, '-X'], { stdio: 'ignore' });
      execFileSync('nft', ['delete', 'table', family === 'v4' ? 'ip' : 'ip6', t], {
        stdio: 'ignore',
      });
    }
  } catch (err) {
    problems.push(`${family} iptables: ${(err as Error).message}`);
  }
}

/** Remove a cgroup directory tree bottom-up (cgroupfs only allows rmdir of empty groups). */
function removeCgroupTree(dir: string, problems: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) removeCgroupTree(join(dir, e), problems);
  try {
    rmdirSync(dir);
  } catch (err) {
    problems.push(`cgroup ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Put the host back as `before` found it. Returns what could not be restored (empty when
 * all went back); the caller decides whether that fails the run.
 */
export function restoreHost(before: HostSnapshot): string[] {
  const problems: string[] = [];
  for (const name of netns()) {
    if (before.netns.has(name)) continue;
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    } catch (err) {
      problems.push(`netns ${name}: ${(err as Error).message}`);
    }
  }
  for (const link of links()) {
    if (before.links.has(link)) continue;
    try {
      execFileSync('ip', ['link', 'delete', link], { stdio: 'ignore' });
    } catch {
      // a veth disappears with its peer's namespace; check again below
    }
  }
  const leftLinks = [...links()].filter((l) => !before.links.has(l));
  if (leftLinks.length) problems.push(`links left: ${leftLinks.join(', ')}`);
  restoreIptables('v4', before.iptables.v4, problems);
  restoreIptables('v6', before.iptables.v6, problems);
  for (const [name, value] of before.sysctls) {
    if (readSysctl(name) === value) continue;
    try {
      writeFileSync(join('/proc/sys', name), value);
    } catch (err) {
      problems.push(`sysctl ${name}: ${(err as Error).message}`);
    }
  }
  for (const cg of kubepodsCgroups()) {
    if (!before.cgroups.has(cg)) removeCgroupTree(cg, problems);
  }
  for (const d of NODE_HOST_DIRS) {
    if (before.dirs.has(d) || !existsSync(d)) continue;
    try {
      rmSync(d, { recursive: true, force: true });
    } catch (err) {
      problems.push(`dir ${d}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** What differs between two snapshots, in words (empty when the host is as recorded). */
export function diffHost(before: HostSnapshot, after: HostSnapshot): string[] {
  const d: string[] = [];
  for (const [k, v] of before.sysctls) {
    if (after.sysctls.get(k) !== v) d.push(`sysctl ${k}: ${v} -> ${after.sysctls.get(k)}`);
  }
  if (before.iptables.v4 !== after.iptables.v4) d.push('iptables rules differ');
  if (before.iptables.v6 !== after.iptables.v6) d.push('ip6tables rules differ');
  for (const [what, b, a] of [
    ['netns', before.netns, after.netns],
    ['link', before.links, after.links],
    ['cgroup', before.cgroups, after.cgroups],
    ['dir', before.dirs, after.dirs],
  ] as const) {
    for (const x of a) if (!b.has(x)) d.push(`${what} added: ${x}`);
    for (const x of b) if (!a.has(x)) d.push(`${what} removed: ${x}`);
  }
  return d;
}
