// Portal set-up for bench/gateway.sh (Node 20+, no dependencies): the publisher publishes
// the API "bench" proxied to the upstream UPSTREAM, with an OpenAPI document whose
// operations need the scope "read", a metered plan (rate METERED_RATE per second per
// subscription and a monthly quota QUOTA, empty for none: every call counted) and a limit plan (100 requests/s,
// no burst: the limiter's test); prints the API's id and the two plans' ids on one line.
import { call, signIn } from './lib.mjs';

const publisher = await signIn('publisher@bench.test');
await call(publisher, 'save_api', {
  name: 'Bench', slug: 'bench', version: '1', summary: 'Benchmark API', description: '', tags: '',
  upstream_url: process.env.UPSTREAM, visibility: 'public',
});
const { id } = await call(publisher, 'api_for_edit', { slug: 'bench' });
const read = { get: { security: [{ key: ['read'] }], responses: { 200: { description: 'ok' } } } };
const document = {
  openapi: '3.1.0',
  info: { title: 'Bench', version: '1' },
  components: { securitySchemes: { key: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } } },
  paths: { '/': read, '/{file}': read },
};
await call(publisher, 'upload_openapi', { api_id: id, document: JSON.stringify(document) });
const plan = (name, rate, burst, quota) => call(publisher, 'save_plan', {
  api_id: id, name, description: '', rate_limit: String(rate), rate_period: 'second', burst: String(burst),
  quota, quota_period: 'month', approval: 'automatic', scopes: 'read', max_key_lifetime_days: '',
});
await plan('Metered', process.env.METERED_RATE ?? '1000000', 0, process.env.QUOTA ?? '1000000000');
await plan('Limit', 100, 0, '');
await call(publisher, 'change_lifecycle', { api_id: id, lifecycle: 'published' });
const plans = (await call(publisher, 'api_for_edit', { slug: 'bench' })).plans;
const idOf = (name) => plans.find((p) => p.name === name).id;
console.log(`${id} ${idOf('Metered')} ${idOf('Limit')}`);
