// k6/phases.js: the load ops/phases runs against each strategy's sale in turn, the same every
// time: ITERATIONS purchases by distinct buyers, shared by VUS virtual users, within at most
// MAX_DURATION. No thresholds: a strategy that fails under this load (503s) is a result to
// show, not a reason to stop; the summary counts those answers as `other`.
//
//   ops/k6 run -e BASE_URL=http://127.0.0.1:8080 -e SALE_ID=phases-locking k6/phases.js
//
// Env: BASE_URL, SALE_ID, VUS (100), ITERATIONS (5000), MAX_DURATION (60s), SUMMARY_JSON.
import exec from 'k6/execution';
import { commonOptions, purchase, summarize } from './lib.js';

const RUN = Date.now().toString(36);

export const options = {
  summaryTrendStats: commonOptions.summaryTrendStats,
  scenarios: {
    phases: {
      executor: 'shared-iterations',
      vus: Number(__ENV.VUS || 100),
      iterations: Number(__ENV.ITERATIONS || 5000),
      maxDuration: __ENV.MAX_DURATION || '60s',
    },
  },
};

export default function () {
  purchase(`phases-${RUN}-${exec.scenario.iterationInTest}`);
}

export const handleSummary = summarize;
