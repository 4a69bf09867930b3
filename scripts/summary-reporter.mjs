// node:test reporter that counts executed tests (not suites) and writes one JSON line at the end.
// The wrapper (run-tests.mjs) prints "N passed, N failed" from it as the run's last line.
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  for await (const event of source) {
    const details = event.data?.details;
    if (details?.type === 'suite') continue;
    if (event.type === 'test:pass') {
      if (event.data.skip || event.data.todo) skipped++;
      else passed++;
    } else if (event.type === 'test:fail') {
      failed++;
      failures.push(`${event.data.file ?? ''} :: ${event.data.name}`);
    }
  }
  yield JSON.stringify({ passed, failed, skipped, failures }) + '\n';
}
