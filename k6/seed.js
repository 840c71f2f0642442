// k6/seed.js: the seed's run. 200 virtual users for 5 s buy from one sale; every request is a
// distinct user, so only the stock can turn a buyer away.
//
//   ops/k6 run -e BASE_URL=http://127.0.0.1:8080 -e SALE_ID=seed-async k6/seed.js
//
// Env: BASE_URL, SALE_ID, VUS (200), DURATION (5s), SUMMARY_JSON (also write the figures there).
import { check } from 'k6';
import exec from 'k6/execution';
import { commonOptions, purchase, summarize } from './lib.js';

const RUN = Date.now().toString(36);

export const options = {
  ...commonOptions,
  vus: Number(__ENV.VUS || 200),
  duration: __ENV.DURATION || '5s',
};

export default function () {
  const res = purchase(`seed-${RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`);
  check(res, { 'answered 202 or 409': (r) => r.status === 202 || r.status === 409 });
}

export const handleSummary = summarize;
