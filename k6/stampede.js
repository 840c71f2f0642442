// k6/stampede.js: the seed's later attack. A constant arrival rate of new buyers (10,000 req/s
// for 30 s by default) against a small stock: after the first few milliseconds nearly every
// request takes the sold-out path, which is what this measures.
//
//   ops/k6 run -e SALE_ID=... -e RATE=10000 -e DURATION=30s k6/stampede.js
//
// Env: BASE_URL, SALE_ID, RATE (10000), DURATION (30s), MAX_VUS (2000), SUMMARY_JSON.
import { check } from 'k6';
import exec from 'k6/execution';
import { commonOptions, purchase, summarize } from './lib.js';

const RUN = Date.now().toString(36);
const RATE = Number(__ENV.RATE || 10000);

export const options = {
  ...commonOptions,
  scenarios: {
    stampede: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Math.min(Number(__ENV.MAX_VUS || 2000), Math.max(50, Math.ceil(RATE / 50))),
      maxVUs: Number(__ENV.MAX_VUS || 2000),
    },
  },
};

export default function () {
  const res = purchase(`stampede-${RUN}-${exec.scenario.iterationInTest}`);
  check(res, { 'answered 202 or 409': (r) => r.status === 202 || r.status === 409 });
}

export const handleSummary = summarize;
