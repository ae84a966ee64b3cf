/** The one parser for integers, durations and booleans from environments, flags and URIs. */
import assert from 'node:assert/strict';
import { InputError } from '../../../common/errors.js';
import {
  durationFlag,
  EnvReader,
  intFlag,
  parseBool,
  parseDurationMs,
  parseIntOption,
} from '../../../common/parse.js';

const value = <T>(r: { ok: true; value: T } | { ok: false }): T | 'bad' => (r.ok ? r.value : 'bad');

describe('config/parse: text → integers, durations, booleans', () => {
  it('integers: decimal digits, a sign, _ between digits; nothing JavaScript also accepts', () => {
    const p = (raw: string) => value(parseIntOption(raw, { name: 'N' }));
    assert.equal(p('42'), 42);
    assert.equal(p(' 7 '), 7);
    assert.equal(p('-3'), -3);
    assert.equal(p('+3'), 3);
    assert.equal(p('1_281_167'), 1_281_167);
    for (const bad of [
      '',
      ' ',
      '1.5',
      '1e3',
      '0x10',
      'NaN',
      'Infinity',
      '1_',
      '_1',
      '1__0',
      '9007199254740993',
    ]) {
      assert.equal(p(bad), 'bad', JSON.stringify(bad));
    }
  });

  it('integers: bounds, and an issue that names the input and quotes the text', () => {
    const r = parseIntOption('0', { name: '--workers', min: 1 });
    assert.deepEqual(r, {
      ok: false,
      issue: { path: '--workers', message: 'must be a positive integer (got "0")' },
    });
    const msg = (raw: string, min?: number, max?: number) => {
      const x = parseIntOption(raw, {
        name: 'X',
        ...(min !== undefined ? { min } : {}),
        ...(max !== undefined ? { max } : {}),
      });
      return x.ok ? '' : x.issue.message;
    };
    assert.equal(msg('-1', 0), 'must be a non-negative integer (got "-1")');
    assert.equal(msg('3', 8), 'must be an integer ≥ 8 (got "3")');
    assert.equal(msg('17', 1, 16), 'must be an integer in 1..16 (got "17")');
    assert.equal(value(parseIntOption('16', { name: 'X', min: 1, max: 16 })), 16);
  });

  it('durations: milliseconds, or a number with a unit', () => {
    const p = (raw: string) => value(parseDurationMs(raw, { name: 'T', min: 1 }));
    assert.equal(p('120000'), 120_000);
    assert.equal(p('120_000'), 120_000);
    assert.equal(p('250ms'), 250);
    assert.equal(p('90s'), 90_000);
    assert.equal(p('1.5m'), 90_000);
    assert.equal(p('2h'), 7_200_000);
    for (const bad of ['', '0', '-5', '-5s', 'soon', '5 days', '1e3', 'NaN']) {
      assert.equal(p(bad), 'bad', JSON.stringify(bad));
    }
    const r = parseDurationMs('-5', { name: 'RINGMASTER_OP_TIMEOUT_MS', min: 1 });
    assert.ok(
      !r.ok && r.issue.path === 'RINGMASTER_OP_TIMEOUT_MS' && r.issue.message.includes('"-5"'),
    );
  });

  it('booleans: true/false, 1/0, yes/no in any case', () => {
    const p = (raw: string) => value(parseBool(raw, { name: 'B' }));
    for (const t of ['true', 'TRUE', '1', 'yes', ' Yes ']) assert.equal(p(t), true, t);
    for (const f of ['false', '0', 'no', 'No']) assert.equal(p(f), false, f);
    for (const bad of ['', 'maybe', 'on', '2']) assert.equal(p(bad), 'bad', bad);
  });

  it('EnvReader: defaults for unset or empty variables, every problem kept, one error', () => {
    const env = new EnvReader({ A: '5', B: '', C: 'x', D: '-1', E: 'maybe' });
    assert.equal(env.int('A', 1), 5);
    assert.equal(env.int('B', 1), 1);
    assert.equal(env.int('UNSET', 3), 3);
    assert.equal(env.int('C', 9), 9, 'a bad value yields the default');
    assert.equal(env.durationMs('D', 100, { min: 1 }), 100);
    assert.equal(env.bool('E', false), false);
    env.issue('F', 'is wrong in its own way');
    assert.throws(
      () => env.check('invalid environment'),
      (e: unknown) =>
        e instanceof InputError &&
        e.message === 'invalid environment' &&
        e.issues.map((i) => i.path).join(' ') === 'C D E F',
    );
    assert.doesNotThrow(() => new EnvReader({ A: '1' }).check('fine'));
  });

  it('commander parsers throw an InputError (exit 2) that names the flag', () => {
    assert.equal(intFlag('--workers', { min: 1 })('4'), 4);
    assert.equal(durationFlag('--op-timeout', { min: 1 })('30s'), 30_000);
    assert.throws(
      () => intFlag('--workers', { min: 1 })('0'),
      (e: unknown) =>
        e instanceof InputError &&
        e.exitCode === 2 &&
        e.issues[0]?.path === '--workers' &&
        /positive integer/.test(e.issues[0].message),
    );
    assert.throws(() => durationFlag('--op-timeout', { min: 1 })('0'), InputError);
  });
});
