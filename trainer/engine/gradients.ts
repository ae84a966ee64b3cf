/**
 * tfjs-core's Node entry (`dist/tf-core.node.js`) registers no gradient functions and no
 * chained ops (`t.mul(…)`): the full `@tensorflow/tfjs` bundle adds both by importing
 * `dist/register_all_gradients` and `dist/public/chained_ops/register_all_chained_ops`, ES module
 * trees with extensionless and directory imports that Node cannot load as it ships. Ringmaster
 * depends on tfjs-core alone (see docs/adr/0020), so we bundle that tree once with esbuild
 * (already present as tsx's compiler) into a CommonJS file cached under node_modules/.cache and
 * require it. The bundled copy shares the engine, kernel and gradient registries with the
 * loaded tfjs-core because tfjs keeps them on the global object.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

let registered = false;

/**
 * Registers every tfjs-core gradient and chained op, as the full tfjs does (idempotent; a no-op
 * if tfjs-node already loaded the full tfjs). Called by initBackend.
 */
export function completeTfjsCore(): void {
  if (registered) return;
  registered = true;
  // tfjs-node loads the full tfjs, which registers them itself.
  if (tf.getGradient('Mean') !== undefined) return;
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const chained =
    require.resolve('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js');
  const pkgFile = join(dirname(entry), '..', 'package.json');
  const version = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string }).version;
  const name = `tfjs-core-extras-${version}.cjs`;
  // node_modules/.cache first; a read-only install (container images) falls back to tmpdir.
  const dirs = [
    join(dirname(entry), '..', '..', '..', '.cache', 'ringmaster'),
    join(tmpdir(), 'ringmaster-cache'),
  ];
  let bundle = dirs.map((d) => join(d, name)).find((f) => existsSync(f));
  if (bundle === undefined) {
    const esbuild = require('esbuild') as typeof import('esbuild');
    const out = esbuild.buildSync({
      stdin: {
        contents: `import ${JSON.stringify(entry)};\nimport ${JSON.stringify(chained)};\n`,
        resolveDir: dirname(entry),
        loader: 'js',
      },
      bundle: true,
      format: 'cjs',
      platform: 'node',
      write: false,
      logLevel: 'silent',
    });
    let lastError: unknown;
    for (const dir of dirs) {
      try {
        mkdirSync(dir, { recursive: true });
        // Write then rename: concurrent processes must never require a half-written file.
        const tmp = join(dir, `${name}.${process.pid}.tmp`);
        writeFileSync(tmp, out.outputFiles[0]!.text);
        renameSync(tmp, join(dir, name));
        bundle = join(dir, name);
        break;
      } catch (err) {
        lastError = err;
      }
    }
    if (bundle === undefined)
      throw new Error('cannot cache the tfjs-core gradients bundle', { cause: lastError });
  }
  require(bundle);
}
