// Mocha's spec output for people, plus the real counts for CI.
// When RINGMASTER_TEST_COUNTS names a file, one JSON line {passed, failed, skipped}
// is appended to it at the end of the run; .ci/run adds the lines up.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_HOOK_END } =
  Mocha.Runner.constants;

class CountReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const counts = { passed: 0, failed: 0, skipped: 0 };
    runner.on(EVENT_TEST_PASS, () => counts.passed++);
    // A failing hook fails the tests it guarded: count it once so it cannot hide.
    runner.on(EVENT_TEST_FAIL, () => counts.failed++);
    runner.on(EVENT_TEST_PENDING, () => counts.skipped++);
    void EVENT_HOOK_END;
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.RINGMASTER_TEST_COUNTS;
      if (file) fs.appendFileSync(file, JSON.stringify(counts) + '\n');
    });
  }
}

module.exports = CountReporter;
