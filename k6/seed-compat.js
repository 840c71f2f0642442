// k6/seed-compat.js: the seed's own load pattern (its scripts/attack.js) against the seed's
// route: a constant arrival rate of POST /purchase-async with an empty JSON body, no user
// named. Every request is a new anonymous buyer, so only the stock turns buyers away: the run
// passes when exactly STOCK purchases are accepted (200, as the seed answers), every other
// answer is 409 sold_out, and no request gets a 5xx.
//
//   ops/k6 run -e BASE_URL=http://127.0.0.1:8080 -e STOCK=100 k6/seed-compat.js
//
// Env: BASE_URL, STOCK (100: the seed sale's stock at the start of the run), RATE (1000 a
// second), DURATION (3s), MAX_VUS (300), SUMMARY_JSON. Bounded: RATE x DURATION requests.
import http from 'k6/http';
import { check } from 'k6';
import { BASE_URL, commonOptions, countOutcome, summarize } from './lib.js';

const STOCK = Number(__ENV.STOCK || 100);
// The seed's routes answer a success as the seed did, 200 (lib.js expects the API's 202).
http.setResponseCallback(http.expectedStatuses(200, 409));

export const options = {
  ...commonOptions,
  thresholds: { ...commonOptions.thresholds, accepted: [`count==${STOCK}`] },
  scenarios: {
    seed: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 1000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '3s',
      preAllocatedVUs: 50,
      maxVUs: Number(__ENV.MAX_VUS || 300),
      gracefulStop: '5s',
    },
  },
};

export default function () {
  const res = http.post(`${BASE_URL}/purchase-async`, JSON.stringify({}), {
    headers: { 'Content-Type': 'application/json' },
    timeout: '10s',
  });
  const code = countOutcome(res, 200);
  check(res, { 'answered 200 or 409 sold_out': () => res.status === 200 || code === 'sold_out' });
}

export const handleSummary = summarize;
