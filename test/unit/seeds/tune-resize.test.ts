import assert from 'node:assert/strict';
import { InputError } from '../../../common/errors.js';
import {
  chooseResize,
  formatTuning,
  halves,
  parseResizeGrid,
  type GridRow,
} from '../../../trainer/tune-resize.js';

const row = (resize: number, acc1: number, acc5: number, confirm1 = acc1): GridRow => ({
  resize,
  select: { acc1, acc5, count: 50 },
  confirm: { acc1: confirm1, acc5, count: 50 },
});

describe('inference-resize tuning', () => {
  it('parses START:END[:STEP] into the grid, step 8 by default', () => {
    assert.deepEqual(parseResizeGrid('224:256:8', 224), [224, 232, 240, 248, 256]);
    assert.deepEqual(parseResizeGrid('224:256', 224), [224, 232, 240, 248, 256]);
    assert.deepEqual(parseResizeGrid('230:240:7', 224), [230, 237]);
    assert.deepEqual(parseResizeGrid('232:232', 224), [232]);
  });

  it('refuses a grid below the crop, reversed, malformed or too long, naming the flag', () => {
    const refused = (text: string, re: RegExp) =>
      assert.throws(
        () => parseResizeGrid(text, 224),
        (e: InputError) =>
          e instanceof InputError &&
          e.exitCode === 2 &&
          e.issues.some((i) => i.path === '--resize-grid' && re.test(i.message)),
      );
    refused('216:256:8', /≥ the crop size 224/);
    refused('256:224:8', /END \(224\) must be ≥ START \(256\)/);
    refused('224-256', /START:END\[:STEP\]/);
    refused('224:256:0', /STEP must be ≥ 1/);
    refused('224:2000:1', /at most 64/);
  });

  it('splits by index parity: even select, odd confirm, every sample once', () => {
    const { select, confirm } = halves(7);
    assert.deepEqual([...select], [0, 2, 4, 6]);
    assert.deepEqual([...confirm], [1, 3, 5]);
    assert.equal(halves(0).select.length, 0);
  });

  it('chooses the best select-half Acc@1; ties go to Acc@5, then to the smaller resize', () => {
    assert.equal(chooseResize([row(224, 80, 95), row(232, 81, 95), row(240, 80.5, 96)]), 232);
    assert.equal(chooseResize([row(224, 80, 95), row(232, 80, 96), row(240, 80, 96)]), 232);
    assert.equal(chooseResize([row(240, 80, 95), row(224, 80, 95)]), 240, 'first listed');
    // The confirming half never decides.
    assert.equal(chooseResize([row(224, 80, 95, 90), row(232, 81, 95, 10)]), 232);
  });

  it('prints both halves, marks the choice and the current resize, and the confirm gain', () => {
    const text = formatTuning({
      grid: [row(224, 80, 95, 79.5), row(232, 81, 95, 80.25)],
      chosen: 232,
      current: 224,
      confirmGain: 0.75,
      split: 'even sample index selects, odd confirms',
    });
    assert.match(text, /^\* {3}232 │ {2}81\.00 {3}95\.00 {2}│ {2}80\.25 {3}95\.00$/m);
    assert.match(text, /^= {3}224 │/m);
    assert.match(text, /^valResizeSize: 232$/m);
    assert.match(text, /confirm half: Acc@1 \+0\.75 points at 232 against 224/);
  });
});
