// Shared by the scenarios: the purchase request, outcome counters and the printed summary.
import http from 'k6/http';
import { Counter } from 'k6/metrics';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const SALE_ID = __ENV.SALE_ID || 'seed-async';

const outcomes = {
  accepted: new Counter('accepted'),
  sold_out: new Counter('sold_out'),
  limit_reached: new Counter('limit_reached'),
  other: new Counter('other_status'),
};

// 202 and 409 are the answers a sale gives; anything else counts as a failed request.
http.setResponseCallback(http.expectedStatuses(202, 409));

// Options every scenario shares: the trend figures the summary prints, and thresholds that
// fail the run on any answer other than 202/409.
export const commonOptions = {
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    other_status: ['count==0'],
  },
};

/** POSTs one purchase and counts its outcome. */
export function purchase(userId, { quantity = 1, idempotencyKey, timeout } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const res = http.post(
    `${BASE_URL}/api/v1/sales/${SALE_ID}/purchases`,
    JSON.stringify({ user_id: userId, quantity }),
    { headers, timeout: timeout || '10s' },
  );
  countOutcome(res);
  return res;
}

/**
 * Counts a purchase's answer under its outcome; returns the error code of a 409, or null.
 * `success` is the status of an accepted purchase: 202, or 200 on the seed's routes.
 */
export function countOutcome(res, success = 202) {
  const code = res.status === 409 ? res.json('error') : null;
  if (res.status === success) outcomes.accepted.add(1);
  else if (code === 'sold_out') outcomes.sold_out.add(1);
  else if (code === 'limit_reached') outcomes.limit_reached.add(1);
  else outcomes.other.add(1);
  return code;
}

/** The figures every scenario prints, also written as JSON to SUMMARY_JSON when set. */
export function summarize(data) {
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
    thresholds_ok: thresholdsOk(data),
  };
  const text = [
    `accepted       ${figures.accepted}`,
    `sold_out       ${figures.sold_out}`,
    `limit_reached  ${figures.limit_reached}`,
    `other statuses ${figures.other}`,
    `requests       ${figures.requests} (${figures.throughput_rps.toFixed(0)} req/s)`,
    `latency ms     avg ${latency.avg.toFixed(2)}  p95 ${latency['p(95)'].toFixed(2)}  p99 ${latency['p(99)'].toFixed(2)}  max ${latency.max.toFixed(2)}`,
    `thresholds     ${figures.thresholds_ok ? 'passed' : 'FAILED'}`,
    '',
  ].join('\n');
  return summaryOutput(text, figures);
}

/** Whether every threshold of the run held. */
export function thresholdsOk(data) {
  return Object.values(data.metrics).every((m) => !m.thresholds || Object.values(m.thresholds).every((t) => t.ok));
}

/** handleSummary's answer: `text` printed, `figures` written as JSON to SUMMARY_JSON when set. */
export function summaryOutput(text, figures) {
  const out = { stdout: text };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(figures);
  return out;
}
