import { SynktiError } from '@synkti/core';
import type { PageRequest } from './types.ts';

/** Largest page a list call may ask for (EC2's DescribeInstances MaxResults bound). */
export const MAX_PAGE_SIZE = 1000;

/** The page size of a list call: `page.maxResults` when given (1 to 1000), else the provider's own default. */
export function pageSize(page: PageRequest, defaultSize: number): number {
  const maxResults = page.maxResults ?? defaultSize;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_PAGE_SIZE) {
    throw new SynktiError('E_PAGE_REQUEST', `maxResults must be an integer from 1 to ${MAX_PAGE_SIZE}, not ${maxResults}`, {
      hint: `omit maxResults for pages of ${defaultSize}`,
    });
  }
  return maxResults;
}
