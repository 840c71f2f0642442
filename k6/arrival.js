// k6/arrival.js: purchases at a constant arrival rate, each by a new user, whatever the
// latency (an open model: a slow pipeline does not slow the arrivals down). ops/bench uses it
// to load the pipeline at a set share of its sustainable rate.
//
//   ops/k6 run -e BASE_URL=http://127.0.0.1:8080 -e SALE_ID=bench-p4 -e RATE=5000 k6/arrival.js
//
// Env: BASE_URL, SALE_ID, RATE (purchases per second, 1000), DURATION (10s), VUS (virtual
// users allocated up front, 200; up to 4x as many if the answers slow down), SUMMARY_JSON.
import { check } from 'k6';
import exec from 'k6/execution';
import { commonOptions, purchase, summarize } from './lib.js';

const RUN = Date.now().toString(36);
const VUS = Number(__ENV.VUS || 200);

export const options = {
  ...commonOptions,
  scenarios: {
    arrivals: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 1000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: VUS,
      maxVUs: 4 * VUS,
    },
  },
};

export default function () {
  const res = purchase(`arrival-${RUN}-${exec.scenario.iterationInTest}`);
  check(res, { 'answered 202 or 409': (r) => r.status === 202 || r.status === 409 });
}

export const handleSummary = summarize;
