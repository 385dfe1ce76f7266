import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { RequestRate, counterTotal } from './request-rate.ts';

test("the rate is the counter's increase over the window; a reset counter starts over", async () => {
  const registry = new Registry();
  const counter = new Counter({ name: 'synkti_router_requests_total', help: 'h', labelNames: ['code'], registers: [registry] });
  const rate = new RequestRate(() => counterTotal(registry, 'synkti_router_requests_total'), 5000);
  assert.equal(await counterTotal(registry, 'nope'), undefined);
  await rate.sample(0);
  assert.equal(rate.value(), undefined, 'one sample is no rate');
  for (let s = 1; s <= 10; s++) {
    counter.inc({ code: '200' }, 18);
    counter.inc({ code: '503' }, 2);
    await rate.sample(s * 1000);
  }
  assert.equal(rate.value(), 20);
  counter.reset();
  await rate.sample(11_000);
  assert.equal(rate.value(), undefined);
});
