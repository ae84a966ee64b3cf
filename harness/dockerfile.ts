// The final stage of a Dockerfile as data: what harness/images.ts needs to assemble the same
// image without a container engine (no daemon, no registry on our machines). Only the
// instructions our Dockerfiles use are understood; any other one is an error, so a Dockerfile
// change the assembler cannot follow fails the cluster tests instead of drifting from them.
import { readFileSync } from 'node:fs';

export interface CopyStep {
  /** `--from=<stage>`, or undefined for the build context. */
  from?: string;
  sources: string[];
  dest: string;
}

export interface FinalStage {
  /** The FROM argument as written (e.g. `${RUNTIME_IMAGE}`) and the ARG default it resolves to. */
  from: string;
  baseDefault?: string;
  env: Array<[string, string]>;
  workdir: string;
  copies: CopyStep[];
  /** Each RUN split at `&&`, trimmed. */
  runs: string[];
  user?: string;
  expose: number[];
  entrypoint?: string[];
  cmd?: string[];
}

/** Logical lines: continuations joined, comments and blanks dropped. */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!cur && (line === '' || line.startsWith('#'))) continue;
    if (cur && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    out.push((cur + line).trim());
    cur = '';
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** `A=1 B="x y"` → pairs (the only ENV/ARG form our Dockerfiles use). */
function keyValues(s: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g;
  for (const m of s.matchAll(re)) pairs.push([m[1]!, m[3] ?? m[2]!]);
  return pairs;
}

export function parseDockerfile(path: string): FinalStage {
  const args = new Map<string, string>();
  let stage: FinalStage | undefined;
  for (const line of logicalLines(readFileSync(path, 'utf8'))) {
    const [word, ...restParts] = line.split(/\s+/);
    const rest = restParts.join(' ');
    const op = word!.toUpperCase();
    if (op === 'ARG') {
      for (const [k, v] of keyValues(rest)) if (!stage) args.set(k, v);
      continue;
    }
    if (op === 'FROM') {
      const from = restParts[0]!;
      const m = /^\$\{?([A-Za-z_]+)\}?$/.exec(from);
      stage = {
        from,
        ...(m && args.has(m[1]!) ? { baseDefault: args.get(m[1]!) } : {}),
        env: [],
        workdir: '/',
        copies: [],
        runs: [],
        expose: [],
      };
      continue;
    }
    if (!stage) throw new Error(`${path}: ${op} before FROM`);
    switch (op) {
      case 'ENV':
        stage.env.push(...keyValues(rest));
        break;
      case 'WORKDIR':
        stage.workdir = rest.startsWith('/') ? rest : `${stage.workdir}/${rest}`;
        break;
      case 'COPY': {
        const parts = restParts.filter((p) => !p.startsWith('--'));
        const from = restParts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        stage.copies.push({
          ...(from ? { from } : {}),
          sources: parts.slice(0, -1),
          dest: parts.at(-1)!,
        });
        break;
      }
      case 'RUN':
        stage.runs.push(...rest.split('&&').map((c) => c.trim()));
        break;
      case 'USER':
        stage.user = rest;
        break;
      case 'EXPOSE':
        stage.expose.push(...restParts.map(Number));
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'CMD':
        stage.cmd = JSON.parse(rest) as string[];
        break;
      case 'LABEL':
        break;
      default:
        throw new Error(`${path}: harness/dockerfile.ts does not understand ${op}`);
    }
  }
  if (!stage) throw new Error(`${path}: no FROM`);
  return stage;
}
