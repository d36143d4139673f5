'use strict';
// Peer benchmark: torchvision AlexNet (alexnet-tv.onnx) on onnxruntime-node, CPU EP.
// Env: ORT_THREADS (intra-op threads, default 2), RUNS (timed runs per batch, default 10),
//      MODEL (path, default ./alexnet-tv.onnx), BATCHES (comma list, default "32,1").
const path = require('path');
const ort = require('onnxruntime-node');

const THREADS = parseInt(process.env.ORT_THREADS || '2', 10);
const RUNS = parseInt(process.env.RUNS || '10', 10);
const WARMUP = 3;
const MODEL = process.env.MODEL || path.join(__dirname, 'alexnet-tv.onnx');
const BATCHES = (process.env.BATCHES || '32,1').split(',').map((s) => parseInt(s, 10));
const VERSION = require('onnxruntime-node/package.json').version;

// Seeded PRNG (mulberry32) + Box-Muller for standard normal floats.
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randn(n, seed) {
  const rnd = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = rnd() || 1e-12, u2 = rnd();
    const r = Math.sqrt(-2 * Math.log(u1));
    a[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) a[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return a;
}

async function main() {
  const session = await ort.InferenceSession.create(MODEL, {
    executionProviders: ['cpu'],
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];

  for (const batch of BATCHES) {
    const input = new ort.Tensor('float32', randn(batch * 3 * 224 * 224, 42), [batch, 3, 224, 224]);
    const feeds = { [inName]: input };
    for (let i = 0; i < WARMUP; i++) await session.run(feeds);
    const ms = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint();
      const res = await session.run(feeds);
      const t1 = process.hrtime.bigint();
      if (res[outName].dims[0] !== batch || res[outName].dims[1] !== 1000) throw new Error('bad output shape');
      ms.push(Number(t1 - t0) / 1e6);
    }
    const s = [...ms].sort((a, b) => a - b);
    const mid = s.length >> 1;
    const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    const r3 = (x) => Math.round(x * 1000) / 1000;
    console.log(JSON.stringify({
      peer: 'onnxruntime-node',
      version: VERSION,
      batch,
      images_per_sec: r3((batch * 1000) / median),
      ms_per_batch: { min: r3(s[0]), median: r3(median), max: r3(s[s.length - 1]) },
      runs: RUNS,
      threads: THREADS,
    }));
  }
  await session.release();
}

main().catch((e) => { console.error(e); process.exit(1); });
