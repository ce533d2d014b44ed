// The limiter check of bench/gateway.sh (Node 20+, no dependencies): offers RATE requests
// per second to URL with the key in X-Api-Key for SECONDS seconds, on an open schedule
// (request i leaves at i / RATE s, whatever the answers), and prints how many passed
// (200) in each second of sending, then the mean of the seconds after the first (a GCRA
// bucket starts full: its first second passes the bucket plus the rate).
//
// Usage: node bench/limiter.mjs URL KEY [RATE=1000] [SECONDS=10]
const [url, key, rate = '1000', seconds = '10'] = process.argv.slice(2);
const perSecond = Number(rate);
const total = perSecond * Number(seconds);
const passed = new Array(Number(seconds)).fill(0);
const statuses = {};
const pending = [];
const start = performance.now();
let sent = 0;
while (sent < total) {
  const due = Math.floor(((performance.now() - start) / 1000) * perSecond) + 1;
  for (; sent < Math.min(due, total); sent++) {
    const second = Math.floor(sent / perSecond);
    pending.push(
      fetch(url, { headers: { 'X-Api-Key': key } })
        .then(async (res) => {
          await res.arrayBuffer();
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status === 200) passed[second] += 1;
        })
        .catch((e) => {
          statuses[e.cause?.code ?? 'error'] = (statuses[e.cause?.code ?? 'error'] ?? 0) + 1;
        }),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 1));
}
await Promise.all(pending);
const rest = passed.slice(1);
const mean = rest.reduce((a, b) => a + b, 0) / rest.length;
console.log(
  `per second ${passed.join(' ')}; after the first: mean ${mean.toFixed(1)}/s, ` +
    `min ${Math.min(...rest)}, max ${Math.max(...rest)}; statuses ${JSON.stringify(statuses)}`,
);
