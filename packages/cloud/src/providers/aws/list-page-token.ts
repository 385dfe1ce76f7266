/**
 * Our `nextToken` for EC2 listings. EC2 pages hold 5..1000 instances and an id filter
 * holds a bounded number of values, so one of our pages is a slice of one EC2 page of
 * one chunk of ids: the token says which chunk, which EC2 page (EC2's own NextToken),
 * how many of that page were already returned, and the page size it was fetched with
 * (the same request must be repeated to see the same page).
 */
import { SynktiError } from '@synkti/core';

export interface ListCursor {
  /** Index of the chunk of ids being listed (0 when the filter has no ids). */
  chunk: number;
  /** EC2's NextToken of the page being listed; undefined for the chunk's first page. */
  ec2Token: string | undefined;
  /** Instances of that page already returned. */
  skip: number;
  /** MaxResults that page was fetched with (set when skip > 0). */
  ec2MaxResults: number | undefined;
}

export const FIRST_CURSOR: ListCursor = { chunk: 0, ec2Token: undefined, skip: 0, ec2MaxResults: undefined };

export function encodeListToken(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, c: cursor.chunk, t: cursor.ec2Token, s: cursor.skip, m: cursor.ec2MaxResults })).toString(
    'base64url',
  );
}

export function decodeListToken(token: string): ListCursor {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    const { v, c, t, s, m } = value;
    if (
      v === 1 &&
      Number.isInteger(c) &&
      (c as number) >= 0 &&
      (t === undefined || typeof t === 'string') &&
      Number.isInteger(s) &&
      (s as number) >= 0 &&
      (m === undefined || Number.isInteger(m))
    ) {
      return { chunk: c as number, ec2Token: t as string | undefined, skip: s as number, ec2MaxResults: m as number | undefined };
    }
  } catch {
    // Falls through to the error below.
  }
  throw new SynktiError('E_PAGE_REQUEST', 'nextToken is not a token this provider returned', {
    hint: 'pass back the nextToken of the previous page unchanged, or omit it to start from the first page',
  });
}
