// Seeding and timing for bench/catalog.sh (Node 20+, no dependencies).
import { BASE, call, signIn, stats } from './lib.mjs';

const N = Number(process.env.N || 1000);
const REQUESTS = Number(process.env.REQUESTS || 200);
const TAGS = ['payments', 'pets', 'maps', 'weather', 'search', 'identity', 'storage', 'ml', 'eu', 'internal'];

async function seedOne(cookie, i) {
  const slug = `api-${String(i).padStart(4, '0')}`;
  await call(cookie, 'save_api', {
    name: `API ${i} ${TAGS[i % TAGS.length]}`,
    slug,
    version: `v${1 + (i % 3)}`,
    summary: `Service number ${i}: a realistic one-line summary for the catalog card.`,
    description: `# API ${i}\n\nSome **Markdown** with a [link](https://example.com/${i}).`,
    tags: `${TAGS[i % TAGS.length]}, ${TAGS[(i * 7) % TAGS.length]}`,
    upstream_url: `https://upstream-${i}.internal/v1`,
    visibility: 'public',
  });
  const { id } = await call(cookie, 'api_for_edit', { slug });
  await call(cookie, 'save_plan', {
    api_id: id, name: 'Standard', description: '', rate_limit: '10', rate_period: 'second', burst: '5',
    quota: '100000', quota_period: 'month', approval: i % 2 ? 'manual' : 'automatic', scopes: 'read write',
    max_key_lifetime_days: '',
  });
  await call(cookie, 'change_lifecycle', { api_id: id, lifecycle: 'published' });
}

async function time(label, run) {
  for (let i = 0; i < 10; i++) await run(); // warm-up
  const ms = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  console.log(`${label.padEnd(44)} ${stats(ms)}`);
}

const publisher = await signIn('publisher@bench.test');
const started = performance.now();
const queue = Array.from({ length: N }, (_, i) => i);
await Promise.all(Array.from({ length: 8 }, async () => {
  while (queue.length) await seedOne(publisher, queue.shift());
}));
console.log(`seeded ${N} published APIs in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const developer = await signIn('developer@bench.test');
const page = (path) => async () => {
  const res = await fetch(`${BASE}${path}`, { headers: { cookie: developer } });
  const html = await res.text();
  if (res.status !== 200 || !html.includes('data-api=')) throw new Error(`${path}: ${res.status}`);
};
const listed = await call(developer, 'catalog', {});
if (listed.total !== N) throw new Error(`catalog lists ${listed.total}, expected ${N}`);
await time('GET /catalog (SSR page, 24 of N)', page('/catalog'));
await time('GET /catalog?page=30 (SSR, deep page)', page('/catalog?page=30'));
await time('GET /catalog?q=weather (SSR, search)', page('/catalog?q=weather'));
await time('GET /catalog?tag=eu (SSR, tag filter)', page('/catalog?tag=eu'));
await time('POST /api/catalog (server function, JSON)', () => call(developer, 'catalog', {}));
