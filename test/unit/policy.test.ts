import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, scopesFor } from '../../src/governance/policy.js';

test('rate limiter: a sliding minute per principal', () => {
  const r = new RateLimiter();
  const t0 = 1_000_000;
  for (let i = 0; i < 3; i++) assert.equal(r.allow('a', 3, t0 + i), true);
  assert.equal(r.allow('a', 3, t0 + 10), false, 'fourth within the minute');
  assert.equal(r.allow('b', 3, t0 + 10), true, 'another principal is not affected');
  assert.equal(r.allow('a', 3, t0 + 60_001), true, 'the window slides');
});

test('policy scopes go from the domain to the principal (most specific last, so it wins)', () => {
  assert.deepEqual(scopesFor({ id: 'alice', roles: ['analyst', 'admin:census'] }), ['domain', 'role:analyst', 'role:admin:census', 'principal:alice']);
});
