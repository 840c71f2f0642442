// k6/retries.js: clients that retry. Every buyer sends a purchase with an Idempotency-Key and a
// short timeout, retries with the same key after a timeout or an error, and then once more as
// if the 202 had been lost on the way. Every answer for one key must carry the same
// purchase_id: a retry never buys twice.
//
//   ops/k6 run -e SALE_ID=... k6/retries.js
//
// Env: BASE_URL, SALE_ID, VUS (50), DURATION (10s), TIMEOUT (200ms), ATTEMPTS (5), SUMMARY_JSON.
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { commonOptions, purchase, summarize } from './lib.js';

const RUN = Date.now().toString(36);
const ATTEMPTS = Number(__ENV.ATTEMPTS || 5);
const retried = new Counter('retries');

export const options = {
  ...commonOptions,
  vus: Number(__ENV.VUS || 50),
  duration: __ENV.DURATION || '10s',
  // A timed-out attempt is expected here; what must never happen is a 5xx or a 4xx other than 409.
  thresholds: { ...commonOptions.thresholds, http_req_failed: ['rate<0.5'] },
};

export default function () {
  const user = `retry-${RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const key = `${user}-order`;
  let first = null;
  for (let attempt = 0; attempt < ATTEMPTS && first === null; attempt++) {
    if (attempt > 0) retried.add(1);
    const res = purchase(user, { idempotencyKey: key, timeout: __ENV.TIMEOUT || '200ms' });
    if (res.status === 202 || res.status === 409) first = res;
  }
  if (first === null || first.status !== 202) return;
  // The client lost the 202 and asks again: same key, same body, same purchase.
  const again = purchase(user, { idempotencyKey: key });
  retried.add(1);
  check(again, {
    'a retry gets 202': (r) => r.status === 202,
    'a retry gets the same purchase_id': (r) => r.status === 202 && r.json('purchase_id') === first.json('purchase_id'),
  });
}

export const handleSummary = summarize;
