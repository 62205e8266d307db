/**
 * The PRI queue producer (IHI 0070 3.9.1, chapter 8): a PCIe endpoint's page requests (PPRs) and Stop PASID markers
 * become 16-byte records at PRIQ_PROD (layout gen/ PRI_RECORD). While the queue cannot take them the SMMU answers for
 * software with automatic PRG responses (8.1 overflow, 8.2 disabled queue or aborted write, 8.3 codes), delivered to
 * the host's `endpoints.priResponse` like the responses CMD_PRI_RESP sends. The PRI queue interrupt follows
 * PRIQ_IRQ_CFG2.LO (IHI 0070 6.3.36).
 * @module
 */
import {
  CMD_PRI_RESP_RESP_BY_CODE,
  CR0ACK,
  GERROR,
  IDR0,
  IDR1,
  IDR3,
  PRG_RESPONSE_CODE,
  PRI_RECORD,
  PRI_RECORD_LAYOUT,
  PRIQ_CONS,
  PRIQ_IRQ_CFG2,
  PRIQ_PROD,
  REG,
  VA_LAYOUT,
} from "../../gen/mod.ts";
import { HostError } from "../core/errors.ts";
import type { GuestMemory } from "../core/memory.ts";
import { NO_SSID, SID_LIMIT, SSID_LIMIT } from "../core/types.ts";
import { WORD_BYTES } from "../core/numbers.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";
import type { EndpointHooks } from "./commands.ts";
import type { ConfigFault, StreamConfig } from "../translation/config_types.ts";
import { type Interrupts, PRIQ_IRQ } from "./irq.ts";
import { PRIQ, Ring } from "../registers/ring.ts";

/**
 * One PCIe Page Request message from an endpoint (IHI 0070 chapter 8). With `last` set and neither `read` nor `write`,
 * a request with a PASID is a Stop PASID marker (LWR = 0b100); without a PASID it is an ordinary page request.
 */
export interface PageRequest {
  /** StreamID of the endpoint (its PCIe RequesterID in bits [15:0]). */
  sid: number;
  /** PASID of the request; absent for a request without a PASID TLP prefix. */
  ssid?: number;
  /** Address of the page wanted: bits [63:12] are recorded (a bigint for addresses beyond 2^53). */
  address: number | bigint;
  /** Read access wanted. */
  read?: boolean;
  /** Write access wanted. */
  write?: boolean;
  /** Execute access wanted (needs a PASID). */
  exec?: boolean;
  /** Privileged access wanted (needs a PASID). */
  priv?: boolean;
  /** Page Request Group index, 0 to 511: CMD_PRI_RESP answers the group. */
  group: number;
  /** The last request of its group. */
  last?: boolean;
}

/**
 * What became of a page request: written to the PRI queue; answered at once by the SMMU with an automatic PRG response
 * (the queue disabled, in overflow or its write aborted: `endpoints.priResponse` was told); or discarded with no
 * response (a request that is not its group's last, or a Stop PASID marker, while the queue cannot take it).
 */
export type PageRequestOutcome = "queued" | "responded" | "discarded";

/** The PCIe Page Request Interface of an SMMU (`Smmu.pri`): where endpoints' page requests arrive. */
export interface Pri {
  /**
   * A page request (or Stop PASID marker) arrives from an endpoint; see {@link PageRequestOutcome}. An automatic
   * response reaches `endpoints.priResponse` before this returns. Throws {@link HostError} for a bad request, or when
   * the SMMU does not advertise PRI; nothing changes then.
   */
  request(r: PageRequest): PageRequestOutcome;
}

/** A page request after validation, as the record holds it. */
interface Request {
  sid: number;
  ssv: boolean;
  ssid: number;
  page: number;
  read: boolean;
  write: boolean;
  exec: boolean;
  priv: boolean;
  group: number;
  last: boolean;
  stop: boolean;
}

const W_IDR0 = word(REG.IDR0);
const W_IDR1 = word(REG.IDR1);
const W_IDR3 = word(REG.IDR3);
const W_CR0ACK = word(REG.CR0ACK);
const W_PRIQ_PROD = word(REG.PRIQ_PROD);
const W_PRIQ_CONS = word(REG.PRIQ_CONS);
const W_PRIQ_IRQ_CFG2 = word(REG.PRIQ_IRQ_CFG2);
const TWO_64 = 1n << BigInt(VA_LAYOUT.bits);
const PAGE_SHIFT = PRI_RECORD.Address.shift!;
const GROUP_LIMIT = 2 ** PRI_RECORD.PRGIndex.width;

function flag(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new HostError(`pri.request: ${name} must be a boolean, got ${String(v)}`);
  return v;
}

/** The page number (address bits [63:12]) of a request's address; throws HostError naming the argument. */
function pageOf(address: unknown): number {
  if (typeof address === "bigint") {
    if (address < 0n || address >= TWO_64) throw new HostError(`pri.request: address ${address} is not 64-bit`);
    return Number(address >> BigInt(PAGE_SHIFT));
  }
  if (typeof address !== "number" || !Number.isSafeInteger(address) || address < 0) {
    throw new HostError(`pri.request: address ${String(address)} is not a non-negative safe integer or a bigint`);
  }
  return Math.floor(address / 2 ** PAGE_SHIFT);
}

/** The PRI queue: page requests in, records and automatic responses out. */
export class PriQueue {
  /** Requests written to the queue, answered automatically, and discarded without a response. */
  readonly counts = { queued: 0, responded: 0, discarded: 0 };
  readonly #record = new Uint32Array(PRI_RECORD_LAYOUT.words);
  readonly #ring = new Ring(PRIQ.entryBytes);

  readonly #regs: RegisterFile;
  readonly #memory: GuestMemory;
  readonly #irq: Interrupts;
  readonly #hooks: EndpointHooks;
  readonly #streamConfig: (sid: number) => StreamConfig | ConfigFault;

  constructor(
    regs: RegisterFile,
    memory: GuestMemory,
    irq: Interrupts,
    hooks: EndpointHooks,
    streamConfig: (sid: number) => StreamConfig | ConfigFault,
  ) {
    this.#regs = regs;
    this.#memory = memory;
    this.#irq = irq;
    this.#hooks = hooks;
    this.#streamConfig = streamConfig;
  }

  /** Checks a host's request (HostError naming the argument, nothing changed) and normalizes it. */
  #validate(r: PageRequest): Request {
    const w = this.#regs.words;
    if (!IDR0.PRI.get(w, W_IDR0)) throw new HostError("pri.request: the SMMU does not advertise PRI (features.pri)");
    if (r === null || typeof r !== "object") throw new HostError("pri.request: the request must be an object");
    const { sid, ssid, group } = r;
    if (!Number.isInteger(sid) || sid < 0 || sid >= SID_LIMIT) {
      throw new HostError(`pri.request: sid ${sid} is not a 32-bit StreamID`);
    }
    if (ssid !== undefined && !(Number.isInteger(ssid) && ssid >= 0 && ssid < SSID_LIMIT)) {
      throw new HostError(`pri.request: ssid ${ssid} is not a 20-bit PASID`);
    }
    if (!Number.isInteger(group) || group < 0 || group >= GROUP_LIMIT) {
      throw new HostError(`pri.request: group ${group} is not a 9-bit Page Request Group index`);
    }
    const page = pageOf(r.address);
    const [read, write, exec, priv, last] = [
      flag("read", r.read),
      flag("write", r.write),
      flag("exec", r.exec),
      flag("priv", r.priv),
      flag("last", r.last),
    ];
    if ((exec || priv) && ssid === undefined) {
      throw new HostError("pri.request: exec and priv are PASID attributes: give an ssid with them");
    }
    // IHI 0070 8: "SSV == 0 when Substreams are not supported by the SMMU"; a PASID wider than the SMMU's SubstreamID
    // is truncated on arrival (IHI 0070 3.9).
    const ssidBits = IDR1.SSIDSIZE.get(w, W_IDR1);
    const ssv = ssid !== undefined && ssidBits > 0;
    return {
      sid,
      ssv,
      ssid: ssv ? ssid! % 2 ** ssidBits : 0,
      page,
      read,
      write,
      exec: ssv && exec,
      priv: ssv && priv,
      group,
      last,
      stop: ssv && last && !read && !write, // LWR == 0b100 with a PASID: a Stop PASID marker (chapter 8)
    };
  }

  /** A page request arrives from an endpoint. Throws {@link HostError} for a bad request (nothing changes). */
  request(r: PageRequest): PageRequestOutcome {
    const q = this.#validate(r);
    const w = this.#regs.words;
    // IHI 0070 8.2: with PRIQEN effectively 0 (SMMUEN 0 implies it) or PRIQ_ABT_ERR active, nothing is written and
    // every PPR gets a Response Failure.
    const enabled = CR0ACK.PRIQEN.get(w, W_CR0ACK) === 1 && CR0ACK.SMMUEN.get(w, W_CR0ACK) === 1;
    if (!enabled || this.#irq.errorActive(GERROR.PRIQ_ABT_ERR)) {
      return this.#respond(q, PRG_RESPONSE_CODE.RESPONSE_FAILURE);
    }
    // IHI 0070 8.1: "An active overflow condition inhibits new entries from being written to the PRI queue."
    if (PRIQ_PROD.OVFLG.get(w, W_PRIQ_PROD) !== PRIQ_CONS.OVACKFLG.get(w, W_PRIQ_CONS)) return this.#overflowed(q);
    const ring = this.#ring.load(PRIQ, w);
    const prod = ring.index(PRIQ_PROD.WR.get(w, W_PRIQ_PROD));
    const used = ring.entries(prod, PRIQ_CONS.RD.get(w, W_PRIQ_CONS));
    if (used < 0 || used === ring.size) {
      // Full (or CONS inconsistent with PROD, taken as full): the overflow condition becomes active.
      PRIQ_PROD.OVFLG.set(w, PRIQ_PROD.OVFLG.get(w, W_PRIQ_PROD) ^ 1, W_PRIQ_PROD);
      this.#mirror();
      return this.#overflowed(q);
    }
    const at = ring.slot(prod);
    const rec = this.#encode(q);
    for (let i = 0; i < rec.length; i++) {
      if (!this.#memory.write32(at + WORD_BYTES * i, rec[i])) {
        // A synchronous abort: PROD stays, PRIQ_ABT_ERR, and a Response Failure for the PPR (IHI 0070 8.2).
        this.#irq.raise(GERROR.PRIQ_ABT_ERR);
        return this.#respond(q, PRG_RESPONSE_CODE.RESPONSE_FAILURE);
      }
    }
    PRIQ_PROD.WR.set(w, ring.next(prod), W_PRIQ_PROD);
    this.#mirror();
    this.counts.queued++;
    // IHI 0070 6.3.36 LO: 0 interrupts when the queue goes from empty to non-empty; 1 on each request marked last.
    if (PRIQ_IRQ_CFG2.LO.get(w, W_PRIQ_IRQ_CFG2) === 1 ? q.last : used === 0) this.#irq.signal(PRIQ_IRQ);
    return "queued";
  }

  #encode(q: Request): Uint32Array {
    const rec = this.#record;
    const b = (v: boolean) => (v ? 1 : 0);
    rec.fill(0);
    PRI_RECORD.StreamID.set(rec, q.sid >>> 0);
    PRI_RECORD.SSV.set(rec, b(q.ssv));
    PRI_RECORD.SubstreamID.set(rec, q.ssid);
    PRI_RECORD.Priv.set(rec, b(q.priv));
    PRI_RECORD.X.set(rec, b(q.exec));
    PRI_RECORD.R.set(rec, b(q.read));
    PRI_RECORD.W.set(rec, b(q.write));
    PRI_RECORD.Last.set(rec, b(q.last));
    PRI_RECORD.PRGIndex.set(rec, q.group);
    PRI_RECORD.Address.set(rec, q.page);
    return rec;
  }

  /**
   * A message discarded in overflow (IHI 0070 8.1): the last request of a group gets an automatic response, others and
   * Stop PASID markers none. With LO set, a discarded last message still interrupts (IHI 0070 6.3.36).
   */
  #overflowed(q: Request): PageRequestOutcome {
    if (q.last && PRIQ_IRQ_CFG2.LO.get(this.#regs.words, W_PRIQ_IRQ_CFG2) === 1) this.#irq.signal(PRIQ_IRQ);
    if (q.stop || !q.last) return this.#discard();
    if (!q.ssv) return this.#respond(q, PRG_RESPONSE_CODE.SUCCESS);
    // With a PASID: kept when IDR3.PPS says so, else as the stream's STE.PPAR says; no valid STE to read: a failure.
    if (IDR3.PPS.get(this.#regs.words, W_IDR3) === 1) return this.#respond(q, PRG_RESPONSE_CODE.SUCCESS, true);
    const ste = this.#streamConfig(q.sid);
    if ("fault" in ste) return this.#respond(q, PRG_RESPONSE_CODE.RESPONSE_FAILURE);
    return this.#respond(q, PRG_RESPONSE_CODE.SUCCESS, ste.ppar);
  }

  /** An automatic PRG response to the requester (none for a Stop PASID marker, IHI 0070 8.2). */
  #respond(q: Request, code: number, pasid = false): PageRequestOutcome {
    if (q.stop) return this.#discard();
    this.counts.responded++;
    this.#hooks.priResponse?.({
      sid: q.sid,
      ssid: pasid ? q.ssid : NO_SSID,
      prgIndex: q.group,
      resp: CMD_PRI_RESP_RESP_BY_CODE[code] ?? 0,
      code,
      auto: true,
    });
    return "responded";
  }

  #discard(): PageRequestOutcome {
    this.counts.discarded++;
    return "discarded";
  }

  /** Keeps the page-0 alias in step with PRIQ_PROD. */
  #mirror(): void {
    this.#regs.words[word(REG.PRIQ_PROD_P0)] = this.#regs.words[W_PRIQ_PROD];
  }
}
