// The k6 ceiling for P3 in ops/bench: k6/seed.js's load shape (200 VUs, 5 s) against GET /healthz.
import http from 'k6/http';

export const options = {
  vus: Number(__ENV.VUS || 200),
  duration: __ENV.DURATION || '5s',
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  http.get(`${__ENV.BASE_URL || 'http://127.0.0.1:8080'}/healthz`);
}

export function handleSummary(data) {
  const latency = data.metrics.http_req_duration.values;
  const figures = { requests: data.metrics.http_reqs.values.count, latency_ms: { avg: latency.avg, p99: latency['p(99)'] } };
  return __ENV.SUMMARY_JSON ? { [__ENV.SUMMARY_JSON]: JSON.stringify(figures) } : {};
}
