import type { ALBEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { requestedPath } from '../../shared/http/wake-handler.js';

const request = (path: string, query: Record<string, string> = {}): ALBEvent => ({
  requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dormouse-wake/0' } },
  httpMethod: 'GET',
  path,
  queryStringParameters: query,
  headers: {},
  body: '',
  isBase64Encoded: false,
});

describe('the Location a held request is sent on to', () => {
  it('is the path and query as the client sent them', () => {
    expect(requestedPath(request('/dashboard', { q: 'a%20b' }))).toBe('/dashboard?q=a%20b');
    expect(requestedPath(request('/a\\b'))).toBe('/a\\b');
  });

  it('never names another host: a path read as protocol-relative becomes /', () => {
    expect(requestedPath(request('//evil.example/x'))).toBe('/');
    // Browsers read a backslash in a URL as a slash: `/\evil.example` is `//evil.example`.
    expect(requestedPath(request('/\\evil.example/x'))).toBe('/');
    expect(requestedPath(request('/\\\\evil.example'))).toBe('/');
    expect(requestedPath(request('evil.example'))).toBe('/');
    // Browsers drop tabs and newlines from a URL: `/\t/evil.example` would be `//evil.example`.
    expect(requestedPath(request('/\t/evil.example/x'))).toBe('/');
    expect(requestedPath(request('/a\fb'))).toBe('/');
    expect(requestedPath(request('/a\x7f'))).toBe('/');
  });
});
