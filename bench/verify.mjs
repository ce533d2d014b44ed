// Seeding and checks for bench/verify.sh (Node 20+, no dependencies).
//   node verify.mjs seed            prints a key with 10^9 uses for the API "bench", and on a
//                                   second line a key without a use limit
//   node verify.mjs check N NON2XX  checks that exactly N uses were spent, then times revoke-to-refusal
import { BASE, call, signIn, stats } from './lib.mjs';

const USES = 1_000_000_000;
const TOKEN = process.env.TOKEN;

async function verify(key) {
  const res = await fetch(`${BASE}/v1/keys/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ key, api: 'bench', scope: 'read' }),
  });
  return res.json();
}

async function issue(developer, appId, name, maxUses) {
  const issued = await call(developer, 'issue_key', {
    application_id: appId, name, environment: 'live', expires_in: '30d', scopes: 'read', max_uses: String(maxUses),
  });
  return issued;
}

async function application(developer) {
  const apps = await call(developer, 'my_applications', {});
  return apps[0].id;
}

if (process.argv[2] === 'seed') {
  const publisher = await signIn('publisher@bench.test');
  await call(publisher, 'save_api', {
    name: 'Bench', slug: 'bench', version: '1', summary: 'Benchmark API', description: '', tags: '',
    upstream_url: 'https://upstream.bench.internal/', visibility: 'public',
  });
  const { id } = await call(publisher, 'api_for_edit', { slug: 'bench' });
  await call(publisher, 'save_plan', {
    api_id: id, name: 'Open', description: '', rate_limit: '', rate_period: 'second', burst: '', quota: '',
    quota_period: 'day', approval: 'automatic', scopes: 'read', max_key_lifetime_days: '',
  });
  const plan = (await call(publisher, 'api_for_edit', { slug: 'bench' })).plans[0].id;
  await call(publisher, 'change_lifecycle', { api_id: id, lifecycle: 'published' });
  const developer = await signIn('developer@bench.test');
  await call(developer, 'save_application', { name: 'Load', description: '' });
  const appId = await application(developer);
  await call(developer, 'subscribe', { application_id: appId, plan_id: plan });
  const { key } = await issue(developer, appId, 'load', USES);
  const free = (await call(developer, 'issue_key', {
    application_id: appId, name: 'free', environment: 'live', expires_in: '30d', scopes: 'read',
  })).key;
  for (const k of [key, free]) {
    const first = await verify(k);
    if (first.code !== 'VALID') throw new Error(`seeded key answers ${JSON.stringify(first)}`);
  }
  console.log(key);
  console.log(free);
} else {
  const [requests, non2xx, inFlight] = process.argv.slice(3).map(Number);
  const answer = await verify(process.env.KEY);
  // One use by the seed check, N by wrk, one by this call, and up to one per connection
  // still in flight when each wrk run stopped counting (the server finished them).
  const spent = USES - answer.remaining - 2;
  console.log(`uses spent ${spent} for ${requests} requests counted by wrk (+ at most ${inFlight} in flight), ${non2xx} non-2xx`);
  if (spent < requests || spent > requests + inFlight || non2xx !== 0) {
    throw new Error('not every request was a VALID verification');
  }
  // Revoke-to-refusal: from the moment revoke_key answers to the first refused verification.
  const developer = await signIn('developer@bench.test');
  const appId = await application(developer);
  const times = [];
  for (let i = 0; i < 50; i++) {
    const { key, view } = await issue(developer, appId, `revoke-${i}`, 10);
    await call(developer, 'revoke_key', { id: view.id, reason: 'bench' });
    const t = performance.now();
    let code;
    do code = (await verify(key)).code; while (code !== 'REVOKED');
    times.push(performance.now() - t);
  }
  console.log(`revoke → refused (REVOKED)                   ${stats(times)}`);
}
