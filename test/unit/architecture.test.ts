/**
 * docs/architecture.md draws the dependencies the code has: the block between its markers
 * must be what `npm run docs:deps` (scripts/gen-deps.ts, dependency-cruiser) generates now.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHITECTURE_DOC, dependencyBlock, withBlock } from '../../scripts/gen-deps.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('docs/architecture.md', function () {
  this.timeout(180_000);
  let block: string;
  before(async () => {
    block = await dependencyBlock();
  });

  it('holds the dependency diagrams the code has (run `npm run docs:deps` to update)', async () => {
    const doc = await readFile(join(ROOT, ARCHITECTURE_DOC), 'utf8');
    assert.equal(withBlock(doc, block), doc);
  });

  it('shows no edge between the trainer and the operator, nor from api/ or common/ to them', () => {
    const rooms = block.slice(0, block.indexOf('Inside the shipped rooms'));
    for (const edge of [
      'trainer --> operator',
      'operator --> trainer',
      'api --> trainer',
      'api --> operator',
      'common --> trainer',
      'common --> operator',
    ]) {
      assert.ok(!rooms.includes(edge), edge);
    }
    assert.ok(rooms.includes('operator --> api') && rooms.includes('trainer --> api'));
  });
});
