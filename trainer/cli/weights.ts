/**
 * `ringmaster weights publish ARTIFACT --name NAME [--registry URI] [--force] [--dataset D]
 * [--seeds FILE]`, `weights list [--registry URI] [--json]`, `weights show NAME [--registry
 * URI] [--json]`: named weights with torchvision's metadata, in any storage prefix
 * (trainer/registry/, ADR 0103). The registry defaults to $RINGMASTER_WEIGHTS_REGISTRY.
 */
import type { Command } from 'commander';
import { ProcessEnv, SEEDS_FILE } from '../../api/names.js';
import { describeError, InputError } from '../../common/errors.js';
import { storageOptionsFromEnv } from '../../common/storage/storage.js';
import {
  datasetOf,
  describeArtifact,
  readArtifact,
  readSeedSummary,
  seedsFileOf,
} from '../registry/describe.js';
import { checkName, type DatasetMetrics, type WeightsEntry } from '../registry/format.js';
import { WeightsRegistry } from '../registry/registry.js';

function registryOf(flag: string | undefined): string {
  const uri = flag ?? process.env[ProcessEnv.weightsRegistry];
  if (!uri) {
    throw new InputError('which registry?', [
      {
        path: '--registry',
        message: `give --registry URI (a directory or s3://bucket/prefix) or set ${ProcessEnv.weightsRegistry}`,
      },
    ]);
  }
  return uri;
}

const pct = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(2) : 'n/a');

function figures(m: DatasetMetrics): string {
  const seeds = m.seeds?.headline ? `, seeds ${m.seeds.headline}` : '';
  return `Acc@1 ${pct(m.acc1)}  Acc@5 ${pct(m.acc5)}${seeds}`;
}

export function formatEntry(e: WeightsEntry): string {
  const t = e.transforms;
  const cats =
    e.categories.length <= 10
      ? e.categories.join(', ')
      : `${e.categories.slice(0, 8).join(', ')}, … (${e.categories.length})`;
  const lines = [
    `${e.name}`,
    `  arch          ${e.arch}, ${e.numClasses} classes`,
    `  num_params    ${e.numParams.toLocaleString('en-US')}`,
    `  GFLOPs        ${e.gflops.toFixed(3)} at ${t.cropSize}×${t.cropSize}`,
    `  transforms    resize ${t.resizeSize}, center crop ${t.cropSize}, ${t.interpolation}, ` +
      `mean [${t.mean.join(', ')}], std [${t.std.join(', ')}]`,
    ...Object.entries(e.metrics).map(([d, m]) => `  ${d.padEnd(13)} ${figures(m)}`),
    `  categories    ${cats}`,
    `  recipe        ${e.recipe ? `sha256 ${e.recipe.sha256} (${String(e.recipe.spec.model)}, ${String(e.recipe.spec.epochs)} epochs)` : 'none (imported weights)'}`,
    `  weights       sha256 ${e.file.sha256}, ${e.file.bytes} bytes` +
      (e.source.ema !== undefined ? (e.source.ema ? ', EMA' : ', model') : '') +
      (e.source.epoch !== undefined ? `, epoch ${e.source.epoch}` : ''),
    `  source        ${e.source.artifact}`,
    `  published     ${e.publishedAt}`,
  ];
  return lines.join('\n') + '\n';
}

interface PublishFlags {
  name: string;
  registry?: string;
  force?: boolean;
  dataset?: string;
  seeds?: string;
}

export function register(program: Command): void {
  const weights = program
    .command('weights')
    .description('named weights with their metadata and transforms: publish, list, show');

  weights
    .command('publish')
    .description(
      'publish a weights artifact under a name (refuses an existing name without --force)',
    )
    .argument('<artifact>', 'weights directory (model.safetensors + meta.json), local or s3://')
    .requiredOption('--name <name>', 'e.g. resnet50.IMAGENET1K_V2')
    .option('--registry <uri>', `registry (default: $${ProcessEnv.weightsRegistry})`)
    .option('--force', 'move an existing name to these weights')
    .option(
      '--dataset <name>',
      'dataset the figures are on (default: meta.json dataset, else "validation")',
    )
    .option(
      '--seeds <file>',
      `${SEEDS_FILE} whose summary to attach (default: <out>/${SEEDS_FILE} for <out>/seed-<n>/weights)`,
    )
    .action(async (artifactUri: string, flags: PublishFlags) => {
      checkName(flags.name);
      const storage = storageOptionsFromEnv(process.env);
      const registry = WeightsRegistry.open(registryOf(flags.registry), storage);
      try {
        const artifact = await readArtifact(artifactUri, storage);
        const fromSeed = seedsFileOf(artifactUri.replace(/\/+$/, ''));
        let seeds;
        if (flags.seeds) seeds = await readSeedSummary(flags.seeds, fromSeed?.seed, storage);
        else if (fromSeed) {
          const file = `${fromSeed.root}/${SEEDS_FILE}`;
          seeds = await readSeedSummary(file, fromSeed.seed, storage).catch((err: unknown) => {
            // A seed run without a usable seeds.json is still publishable: say why no summary.
            process.stderr.write(`no seed summary attached (${describeError(err)})\n`);
            return undefined;
          });
        }
        const entry = describeArtifact(artifact, {
          name: flags.name,
          dataset: flags.dataset ?? datasetOf(artifact.meta),
          ...(seeds ? { seeds } : {}),
        });
        const res = await registry.publish(artifact, entry, { force: Boolean(flags.force) });
        process.stdout.write(
          formatEntry(entry) +
            `published ${entry.name} → ${res.uri}` +
            (res.replaced ? ` (replaced ${res.replaced.dir})` : '') +
            '\n',
        );
      } finally {
        registry.close();
      }
    });

  weights
    .command('list')
    .description('the names in a registry with architecture, size and figures')
    .option('--registry <uri>', `registry (default: $${ProcessEnv.weightsRegistry})`)
    .option('--json', 'print JSON')
    .action(async (flags: { registry?: string; json?: boolean }) => {
      const registry = WeightsRegistry.open(
        registryOf(flags.registry),
        storageOptionsFromEnv(process.env),
      );
      try {
        const rows = await registry.list();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (rows.length === 0) {
          process.stdout.write(`no weights in ${registry.uri}\n`);
          return;
        }
        const w = Math.max(4, ...rows.map((r) => r.name.length));
        const out = [
          `${'name'.padEnd(w)}  ${'arch'.padEnd(16)} classes      params  GFLOPs  figures`,
        ];
        for (const r of rows) {
          const figs = Object.entries(r.metrics)
            .map(([d, m]) => `${d}: ${figures(m)}`)
            .join('; ');
          out.push(
            `${r.name.padEnd(w)}  ${r.arch.padEnd(16)} ${String(r.numClasses).padStart(7)} ` +
              `${r.numParams.toLocaleString('en-US').padStart(11)} ${r.gflops.toFixed(3).padStart(7)}  ${figs}`,
          );
        }
        process.stdout.write(out.join('\n') + '\n');
      } finally {
        registry.close();
      }
    });

  weights
    .command('show')
    .description('one entry: categories, num_params, GFLOPs, metrics, recipe, transforms, sha256')
    .argument('<name>', 'weights name')
    .option('--registry <uri>', `registry (default: $${ProcessEnv.weightsRegistry})`)
    .option('--json', 'print JSON (the whole entry.json)')
    .action(async (name: string, flags: { registry?: string; json?: boolean }) => {
      const registry = WeightsRegistry.open(
        registryOf(flags.registry),
        storageOptionsFromEnv(process.env),
      );
      try {
        const entry = await registry.show(name);
        process.stdout.write(
          flags.json ? `${JSON.stringify(entry, null, 2)}\n` : formatEntry(entry),
        );
      } finally {
        registry.close();
      }
    });
}
