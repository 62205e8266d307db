/**
 * CMD_RESUME and CMD_STALL_TERM for the same stalled transaction in one command batch (IHI 0070 4.7.1, 4.7.2, 3.12.2).
 *
 * The spec's sentences the rows rest on:
 * - IHI 0070 4.7.1: "Consumption of CMD_RESUME(Retry) does not guarantee that the given stalled transaction has
 *   already been retried, but does guarantee that, if it has not, it will be retried at a later time."
 * - IHI 0070 3.12.2: a STAG "cannot be re-used until the transaction it was last associated with has been acknowledged
 *   through a CMD_RESUME or a CMD_STALL_TERM command": a resumed transaction is acknowledged, no longer one that waits.
 * - IHI 0070 4.7.2: CMD_STALL_TERM "provides a mechanism to mark all stalled transactions originating from StreamID for
 *   termination." Issued after the STE aborts new transactions, "any transactions that are outstanding on the stream
 *   at the time that this command is observed by the SMMU are guaranteed to terminate with an abort"; issued while the
 *   STE does not, "it is UNPREDICTABLE whether ... Stalled transactions related to the StreamID are terminated", and
 *   "Transactions for the matching StreamID are not affected by this command if they become stalled after the command
 *   is consumed."
 * - IHI 0070 4.7.1: "It is CONSTRAINED UNPREDICTABLE whether a matching transaction is affected by this command [when]
 *   The stalled transaction has already been subject to a prior CMD_RESUME or CMD_STALL_TERM."
 * So a CMD_STALL_TERM after a CMD_RESUME(Retry) cannot take the promised retry away: the transaction is retried and,
 * its fault resolved, completes. Where the spec leaves the outcome open the rows assert only what it bounds.
 */
import assert from "node:assert/strict";
import { CMD_RESUME, CMD_RESUME_AC, CMD_STALL_TERM, OPCODE, REG, STE_CONFIG } from "../gen/mod.ts";
import type { Stall as AnyStall, TranslationResult } from "../mod.ts";
type Stall = AnyStall<TranslationResult>;
import { command } from "../src/guest/driver.ts";
import { sva } from "./helpers/sva.ts";

const DATA = 0x8000_0000;
const A = 0x5000, B = 0x6000;

/** Stream 1 stalls at stage 1 (CD.S = 1); transactions at A and B are stalled, A's page then mapped if `mapA`. */
function twoStalls(mapA: boolean) {
  const b = sva();
  const s = b.stage1(1, { cd: { S: 1, R: 0 } });
  const [a, c] = [A, B].map((iova) => {
    const r = b.smmu.translate(1, iova);
    assert.ok(!r.ok && r.stall, "stalled");
    return r.stall;
  });
  b.driver.events(); // the guest reads the two stall records
  if (mapA) s.tables.map(A, DATA + A);
  return { ...b, a, b: c };
}

/** Writes `cmds` into the command queue and publishes them with one CMDQ_PROD write: one batch. */
function batch(d: ReturnType<typeof sva>["driver"], cmds: Uint32Array[]): void {
  const size = 2 ** d.cmdqLog2, start = d.consIndex();
  cmds.forEach((c, i) => c.forEach((v, k) => d.memory.write32(d.layout.cmdq + ((start + i) % size) * 16 + 4 * k, v)));
  d.write(REG.CMDQ_PROD, (start + cmds.length) % (2 * size));
}

const resume = (stall: Stall, retry: boolean) =>
  command(OPCODE.RESUME, (w) => {
    CMD_RESUME.StreamID.set(w, stall.sid);
    CMD_RESUME.STAG.set(w, stall.stag);
    CMD_RESUME.Ac.set(w, retry ? CMD_RESUME_AC.RETRY : CMD_RESUME_AC.TERMINATE);
    CMD_RESUME.Ab.set(w, 1);
  });
const stallTerm = (sid: number) => command(OPCODE.STALL_TERM, (w) => CMD_STALL_TERM.StreamID.set(w, sid));

type Outcome = Stall["state"];
interface Row {
  what: string;
  /** A's page is mapped before the batch (its fault resolved). */
  mapA: boolean;
  /** The stream's STE made to abort (CMD_CFGI_STE, CMD_SYNC) before the batch: the use 4.7.2 prescribes. */
  aborting: boolean;
  /** The batch, given the two stalled transactions. */
  cmds: (a: Stall, b: Stall) => Uint32Array[];
  /** The outcomes the spec allows for A and B (B: null when it leaves B open). */
  a: Outcome[];
  b: Outcome[] | null;
}

const ROWS: Row[] = [
  {
    // 4.7.1: the retry is guaranteed; B, still stalled, is left open (4.7.2: UNPREDICTABLE while the STE stalls).
    what: "RESUME(Retry) then STALL_TERM, A's fault resolved: A is retried and completes",
    mapA: true,
    aborting: false,
    cmds: (a) => [resume(a, true), stallTerm(1)],
    a: ["completed"],
    b: null,
  },
  {
    // Retried with its fault unresolved, A faults again: stalled anew (after the STALL_TERM was consumed, so "not
    // affected"), or terminated (an early retry that stalled again before it was). Never completed.
    what: "RESUME(Retry) then STALL_TERM, A's fault unresolved: A stalls again or is terminated",
    mapA: false,
    aborting: false,
    cmds: (a) => [resume(a, true), stallTerm(1)],
    a: ["stalled", "terminated"],
    b: null,
  },
  {
    // 4.7.2 as prescribed: every outstanding transaction terminates with an abort, the retried one by its STE ("the
    // STE configuration will terminate such early-retries").
    what: "STE aborting, RESUME(Retry) then STALL_TERM: both terminate",
    mapA: true,
    aborting: true,
    cmds: (a) => [resume(a, true), stallTerm(1)],
    a: ["terminated"],
    b: ["terminated"],
  },
  {
    // The RESUME meets a transaction already subject to CMD_STALL_TERM (CONSTRAINED UNPREDICTABLE whether it is
    // affected), but a retry meets the aborting STE: terminated either way.
    what: "STE aborting, STALL_TERM then RESUME(Retry) of A's STAG: both terminate",
    mapA: true,
    aborting: true,
    cmds: (a) => [stallTerm(1), resume(a, true)],
    a: ["terminated"],
    b: ["terminated"],
  },
  {
    // A STALL_TERM of another StreamID marks none of stream 1's transactions; the retry completes, B waits.
    what: "RESUME(Retry) then STALL_TERM of another StreamID: A completes, B stays stalled",
    mapA: true,
    aborting: false,
    cmds: (a) => [resume(a, true), stallTerm(2)],
    a: ["completed"],
    b: ["stalled"],
  },
];

for (const row of ROWS) {
  Deno.test(`IHI 0070 4.7.1/4.7.2 in one batch: ${row.what}`, () => {
    const s = twoStalls(row.mapA);
    if (row.aborting) {
      s.driver.writeSte(1, STE_CONFIG.ABORT);
      assert.ok(s.driver.invalidateSte(1));
    }
    assert.deepEqual([s.a.state, s.b.state], ["stalled", "stalled"], "nothing ends before the batch");
    batch(s.driver, [...row.cmds(s.a, s.b), command(OPCODE.SYNC)]);
    assert.equal(s.driver.consIndex(), s.driver.read(REG.CMDQ_PROD), "the batch is consumed");
    assert.ok(row.a.includes(s.a.state), `A ${s.a.state}, allowed: ${row.a}`);
    if (row.b) assert.ok(row.b.includes(s.b.state), `B ${s.b.state}, allowed: ${row.b}`);
    if (s.a.state === "completed") assert.deepEqual(s.a.result, { ok: true, pa: DATA + A });
    if (s.a.state === "stalled") {
      // "If retry is chosen, the transaction is handled as though it had just arrived" (3.12.2): a new record.
      assert.ok(s.a.recorded && s.a.stag >= 0, "stalled again under a recorded STAG");
    }
    for (const x of [s.a, s.b]) {
      if (x.state === "terminated") assert.equal((x.result as { ok: boolean }).ok, false, "terminated: an abort");
    }
  });
}
