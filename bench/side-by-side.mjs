// Portal set-up for bench/side-by-side.sh (Node 20+, no dependencies): the publisher
// publishes the API "bench" with a metered plan (1,000 requests/s per subscription, burst
// 100) and a latency plan (1,000,000 requests/s: limited, never refusing); prints the API's
// id and the two plans' ids on one line.
import { call, signIn } from './lib.mjs';

const publisher = await signIn('publisher@bench.test');
await call(publisher, 'save_api', {
  name: 'Bench', slug: 'bench', version: '1', summary: 'Benchmark API', description: '', tags: '',
  upstream_url: 'https://upstream.bench.internal/', visibility: 'public',
});
const { id } = await call(publisher, 'api_for_edit', { slug: 'bench' });
const plan = (name, rate, burst) => call(publisher, 'save_plan', {
  api_id: id, name, description: '', rate_limit: String(rate), rate_period: 'second', burst: String(burst),
  quota: '', quota_period: 'day', approval: 'automatic', scopes: 'read', max_key_lifetime_days: '',
});
await plan('Metered', 1000, 100);
await plan('Latency', 1000000, 0);
await call(publisher, 'change_lifecycle', { api_id: id, lifecycle: 'published' });
const plans = (await call(publisher, 'api_for_edit', { slug: 'bench' })).plans;
const idOf = (name) => plans.find((p) => p.name === name).id;
console.log(`${id} ${idOf('Metered')} ${idOf('Latency')}`);
