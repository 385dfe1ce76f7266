import { z } from 'zod';
import { memberSchema } from './membership-view.ts';

/**
 * The wire format of the membership protocol (SWIM with piggy-backed dissemination).
 * Every message is small and bounded whatever the fleet size, except `sync`, the full
 * state exchanged on join and on the rare anti-entropy round.
 */

const versionFields = {
  id: z.string().min(1).max(64),
  incarnation: z.number().int().nonnegative(),
  version: z.number().int().nonnegative(),
};

export const membershipUpdateSchema = z.discriminatedUnion('type', [
  /** A member's current entry (joins, state changes, refutations). */
  z.object({ type: z.literal('alive'), member: memberSchema }),
  /** Someone could not reach this version of the member; it is dead unless it refutes in time. */
  z.object({ type: z.literal('suspect'), ...versionFields }),
  /** This version of the member is dead. */
  z.object({ type: z.literal('dead'), ...versionFields }),
]);
export type MembershipUpdate = z.infer<typeof membershipUpdateSchema>;

/** Updates piggy-backed on one message: a hard cap keeps every message small at any N. */
export const MAX_UPDATES_PER_MESSAGE = 64;
const updates = z.array(membershipUpdateSchema).max(MAX_UPDATES_PER_MESSAGE).default([]);
const peerRefSchema = z.object({
  id: z.string().min(1).max(64),
  address: z.string().min(1).max(255),
  agentPort: z.number().int().min(1).max(65535),
});
export type PeerRef = z.infer<typeof peerRefSchema>;

/** The largest fleet a full-state sync may describe. */
export const MAX_SYNC_MEMBERS = 50_000;

export const swimMessageSchema = z.discriminatedUnion('kind', [
  /** Are you alive? (answered with an ack carrying the same seq) */
  z.object({ kind: z.literal('ping'), seq: z.number().int().nonnegative(), from: memberSchema, updates }),
  z.object({ kind: z.literal('ack'), seq: z.number().int().nonnegative(), from: memberSchema, updates }),
  /** Please ping `target` for me and ack me if it answers (indirect probe). */
  z.object({ kind: z.literal('ping-req'), seq: z.number().int().nonnegative(), target: peerRefSchema, from: memberSchema, updates }),
  /** Dissemination only. */
  z.object({ kind: z.literal('gossip'), from: memberSchema, updates }),
  /** Full-state push-pull: on join, and every few minutes against drift. `reply` asks for the peer's state back. */
  z.object({
    kind: z.literal('sync'),
    from: memberSchema,
    reply: z.boolean(),
    members: z.array(memberSchema).max(MAX_SYNC_MEMBERS),
    dead: z.array(z.object(versionFields)).max(MAX_SYNC_MEMBERS),
  }),
]);
export type SwimMessage = z.infer<typeof swimMessageSchema>;

/** What a peer answers to a POST: the messages addressed back to the sender (e.g. an ack). */
export const swimReplySchema = z.object({ messages: z.array(swimMessageSchema).max(8) });
export type SwimReply = z.infer<typeof swimReplySchema>;
