// k6/seed.js: the seed's run. 200 virtual users for 5 s buy from one sale; every request is a
// distinct user, so only the stock can turn a buyer away.
//
//   ops/k6 run -e BASE_URL=http://127.0.0.1:8080 -e SALE_ID=default k6/seed.js
//
// Env: BASE_URL, SALE_ID, VUS (200), DURATION (5s), SUMMARY_JSON (also write the figures there).
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const SALE_ID = __ENV.SALE_ID || 'default';
const RUN = Date.now().toString(36);

const outcomes = {
  accepted: new Counter('accepted'),
  sold_out: new Counter('sold_out'),
  limit_reached: new Counter('limit_reached'),
  other: new Counter('other_status'),
};

// 202 and 409 are the answers a sale gives; anything else counts as a failed request.
http.setResponseCallback(http.expectedStatuses(202, 409));

export const options = {
  vus: Number(__ENV.VUS || 200),
  duration: __ENV.DURATION || '5s',
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    other_status: ['count==0'],
  },
};

export default function () {
  const user = `seed-${RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const res = http.post(
    `${BASE_URL}/api/v1/sales/${SALE_ID}/purchases`,
    JSON.stringify({ user_id: user, quantity: 1 }),
    { headers: { 'Content-Type': 'application/json' } },
  );
  const code = res.status === 409 ? res.json('error') : null;
  if (res.status === 202) outcomes.accepted.add(1);
  else if (code === 'sold_out') outcomes.sold_out.add(1);
  else if (code === 'limit_reached') outcomes.limit_reached.add(1);
  else outcomes.other.add(1);
  check(res, { 'answered 202 or 409': (r) => r.status === 202 || r.status === 409 });
}

export function handleSummary(data) {
  const count = (name) => (data.metrics[name] ? data.metrics[name].values.count : 0);
  const latency = data.metrics.http_req_duration.values;
  const figures = {
    accepted: count('accepted'),
    sold_out: count('sold_out'),
    limit_reached: count('limit_reached'),
    other: count('other_status'),
    requests: count('http_reqs'),
    throughput_rps: data.metrics.http_reqs.values.rate,
    latency_ms: { avg: latency.avg, p95: latency['p(95)'], p99: latency['p(99)'], max: latency.max },
  };
  const text = [
    `accepted       ${figures.accepted}`,
    `sold_out       ${figures.sold_out}`,
    `limit_reached  ${figures.limit_reached}`,
    `other statuses ${figures.other}`,
    `requests       ${figures.requests} (${figures.throughput_rps.toFixed(0)} req/s)`,
    `latency ms     avg ${latency.avg.toFixed(2)}  p95 ${latency['p(95)'].toFixed(2)}  p99 ${latency['p(99)'].toFixed(2)}  max ${latency.max.toFixed(2)}`,
    '',
  ].join('\n');
  const out = { stdout: text };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(figures);
  return out;
}
