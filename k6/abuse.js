// k6/abuse.js: users trying to exceed the per-user limit, concurrently. A small pool of users
// (USERS) is shared by many virtual users that all try to buy at once; the sale's
// per_user_limit (LIMIT, set on the sale) must hold: at most USERS * LIMIT purchases go through,
// everything else is limit_reached (or sold_out).
//
//   ops/k6 run -e SALE_ID=... -e USERS=20 -e LIMIT=2 k6/abuse.js
//
// Env: BASE_URL, SALE_ID, USERS (20), LIMIT (2), VUS (100), DURATION (5s), SUMMARY_JSON.
import { check } from 'k6';
import exec from 'k6/execution';
import { commonOptions, purchase, summarize } from './lib.js';

const USERS = Number(__ENV.USERS || 20);
const LIMIT = Number(__ENV.LIMIT || 2);

export const options = {
  ...commonOptions,
  vus: Number(__ENV.VUS || 100),
  duration: __ENV.DURATION || '5s',
  thresholds: { ...commonOptions.thresholds, accepted: [`count<=${USERS * LIMIT}`] },
};

// One run id for every virtual user (module code runs once per VU), so they share the users.
export function setup() {
  return { run: Date.now().toString(36) };
}

export default function ({ run }) {
  const user = `abuser-${run}-${exec.scenario.iterationInTest % USERS}`;
  const res = purchase(user);
  check(res, { 'answered 202 or 409': (r) => r.status === 202 || r.status === 409 });
}

export const handleSummary = summarize;
