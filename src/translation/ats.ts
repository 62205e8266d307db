/**
 * PCIe ATS at the SMMU (IHI 0070 3.9.1): Translation Requests answered with the Translation Completion an endpoint's
 * ATC caches (3.9.1.2, 13.6, 13.7), and Translated transactions checked per CR0.ATSCHK and STE.EATS (3.9.1.3).
 * Requests never record translation faults; F_BAD_ATS_TREQ and F_TRANSL_FORBIDDEN report what ATS may not do.
 * @module
 */
import {
  CR0ACK,
  EVENT_TYPE,
  EVT_TYPE_NAMES,
  GRANULE,
  IDR0,
  IDR5,
  IDR5_OAS_BITS,
  REG,
  STE_CONFIG,
  STE_EATS,
  STE_INSTCFG,
  STE_PRIVCFG,
} from "../../gen/mod.ts";
import { HostError } from "../core/errors.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";
import type { Translator } from "./translate.ts";
import { ACCESS, newFault, NO_PA, NO_SSID, NO_TAG, SID_LIMIT, SSID_LIMIT, translationRelated } from "../core/types.ts";
import { isVa, untag } from "../core/address.ts";
import type { EventSink } from "../core/types.ts";

/** An ATS Translation Request from an endpoint (IHI 0070 3.9.1; PCIe ATS). Read access is implied. */
export interface AtsRequest {
  /** StreamID of the endpoint. */
  sid: number;
  /** PASID of the request; absent for a request without a PASID TLP prefix. */
  ssid?: number;
  /** The untranslated address (a bigint for a tagged address or one beyond 2^53). */
  address: number | bigint;
  /** The endpoint means to write (the request's NW flag clear). */
  write?: boolean;
  /** Execute permission wanted (Execute_Requested; needs a PASID). */
  exec?: boolean;
  /** Privileged access (Privileged_Mode_Requested; needs a PASID). */
  priv?: boolean;
}

/**
 * The Translation Completion: `success` with the translation of the naturally aligned `size`-byte range holding the
 * address (`address` is the translation of its first byte: a PA, or an IPA with split-stage ATS) and the permissions
 * granted to the requested privilege; a translation-related fault is a success granting nothing (`read` and `write`
 * false, `size` the STU, `address` 0). `UR` (Unsupported Request) where ATS is disabled for the stream; `CA` (Completer
 * Abort) for a configuration error. U, N and Global are always 0 (IHI 0070 13.6.2, 3.9.1).
 */
export type AtsCompletion =
  | {
    status: "success";
    address: number;
    size: number;
    read: boolean;
    write: boolean;
    exec: boolean;
    priv: boolean;
  }
  | { status: "UR" | "CA" };

/** An ATS Translated transaction: the endpoint uses an address an earlier completion gave it. */
export interface TranslatedAccess {
  /** StreamID of the endpoint. */
  sid: number;
  /** The translated address (a PA; an IPA with split-stage ATS). */
  address: number;
  /** A write. Default: a read. Translated traffic is Data and Unprivileged (no PASID: IHI 0070 3.9.1.3). */
  write?: boolean;
}

/** The outcome of a Translated transaction: the PA it reaches, or why it was aborted (see `Smmu.translate`). */
export type TranslatedResult = { ok: true; pa: number } | { ok: false; fault: string; event: boolean };

/** The ATS interface of an SMMU (`Smmu.ats`). */
export interface Ats {
  /** An ATS Translation Request (IHI 0070 3.9.1.2). Throws {@link HostError} for a bad request or without IDR0.ATS. */
  translate(request: AtsRequest): AtsCompletion;
  /** An ATS Translated transaction (IHI 0070 3.9.1.3). Throws {@link HostError} for a bad access or without IDR0.ATS. */
  translated(access: TranslatedAccess): TranslatedResult;
  /** The Smallest Translation Unit in bytes: the smallest granule the SMMU implements (IHI 0070 3.9.1). */
  readonly stu: number;
}

const W_IDR0 = word(REG.IDR0);
const W_IDR5 = word(REG.IDR5);
const W_CR0ACK = word(REG.CR0ACK);
const UR: AtsCompletion = Object.freeze({ status: "UR" });
const CA: AtsCompletion = Object.freeze({ status: "CA" });

function flag(where: string, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new HostError(`${where}: ${name} must be a boolean, got ${String(v)}`);
  return v;
}

function checkSid(where: string, sid: unknown): number {
  if (!Number.isInteger(sid) || (sid as number) < 0 || (sid as number) >= SID_LIMIT) {
    throw new HostError(`${where}: sid ${sid} is not a 32-bit StreamID`);
  }
  return sid as number;
}

/** ATS for one SMMU: requests and translated traffic, over its translation engine and event queue. */
export class AtsPort implements Ats {
  readonly #regs: RegisterFile;
  readonly #engine: Translator;
  readonly #events: EventSink;

  constructor(
    regs: RegisterFile,
    engine: Translator,
    events: EventSink,
  ) {
    this.#regs = regs;
    this.#engine = engine;
    this.#events = events;
  }

  get stu(): number {
    const w = this.#regs.words;
    const smallest = IDR5.GRAN4K.get(w, W_IDR5)
      ? GRANULE.GRAN_4K
      : IDR5.GRAN16K.get(w, W_IDR5)
      ? GRANULE.GRAN_16K
      : GRANULE.GRAN_64K;
    return 2 ** smallest;
  }

  #advertised(where: string): void {
    if (!IDR0.ATS.get(this.#regs.words, W_IDR0)) throw new HostError(`${where}: the SMMU does not advertise ATS`);
  }

  #enabled(): boolean {
    return CR0ACK.SMMUEN.get(this.#regs.words, W_CR0ACK) === 1;
  }

  translate(request: AtsRequest): AtsCompletion {
    const where = "ats.translate";
    this.#advertised(where);
    if (request === null || typeof request !== "object") throw new HostError(`${where}: the request must be an object`);
    const sid = checkSid(where, request.sid);
    const { ssid } = request;
    if (ssid !== undefined && !(Number.isInteger(ssid) && ssid >= 0 && ssid < SSID_LIMIT)) {
      throw new HostError(`${where}: ssid ${ssid} is not a 20-bit PASID`);
    }
    const [addr, tag] = this.#address(where, request.address);
    const write = flag(where, "write", request.write);
    const exec = flag(where, "exec", request.exec);
    const priv = flag(where, "priv", request.priv);
    if ((exec || priv) && ssid === undefined) {
      throw new HostError(`${where}: exec and priv are PASID attributes: give an ssid with them`);
    }
    // IHI 0070 3.9.1.2: SMMUEN 0, Config bypass and an effective EATS of 0b00 give UR and F_BAD_ATS_TREQ; Config
    // abort a UR alone; a configuration error CA (recorded only with CR2.REC_CFG_ATS, which is not implemented).
    const asked = { addr, tag, write, exec, priv };
    if (!this.#enabled()) return this.#badRequest(sid, ssid, asked);
    const stream = this.#engine.streamConfig(sid);
    if ("fault" in stream) return CA;
    if (stream.config === STE_CONFIG.ABORT) return UR;
    if (stream.eats === STE_EATS.ABORT) return this.#badRequest(sid, ssid, asked);
    let flags = (write ? ACCESS.WRITE : 0) | (exec ? ACCESS.EXEC : 0) | (priv ? ACCESS.PRIV : 0);
    if (stream.instcfg === STE_INSTCFG.INSTR) flags |= ACCESS.ATS_INSTR; // R follows X (IHI 0070 13.7.1)
    const out = this.#engine.atsRequest(sid, ssid ?? NO_SSID, addr, flags, tag);
    const stu = this.stu;
    if (out === NO_PA) {
      // A translation-related fault grants nothing; any other is a configuration error.
      if (!translationRelated(this.#engine.fault.type)) return CA;
      return this.#none(priv, stu);
    }
    const entry = this.#engine.atsEntry;
    if (entry === null) {
      // Both stages skipped (S1DSS bypass without stage 2): an identity mapping, R and W granted (IHI 0070 13.6.4).
      const base = addr - (addr % stu);
      return { status: "success", address: base, size: stu, read: true, write: true, exec: false, priv: false };
    }
    const g = grant(entry.allow, priv, exec, stream.privcfg, stream.instcfg);
    if (!g.read && !g.write && !g.exec) return this.#none(priv, stu);
    // Split-stage ATS returns the stage-1 output, the IPA (IHI 0070 13.6.3).
    const base = stream.eats === STE_EATS.SPLIT ? entry.ipaBase : entry.outBase;
    return { status: "success", address: base, size: entry.size, ...g, priv };
  }

  /** "R == W == 0 ... its translation size is equal to the STU size" (IHI 0070 3.9.1.2). */
  #none(priv: boolean, stu: number): AtsCompletion {
    return { status: "success", address: 0, size: stu, read: false, write: false, exec: false, priv };
  }

  /** UR, with F_BAD_ATS_TREQ recorded: the address and the permissions asked for, before overrides (IHI 0070 7.3.6). */
  #badRequest(
    sid: number,
    ssid: number | undefined,
    asked: { addr: number; tag: number; write: boolean; exec: boolean; priv: boolean },
  ): AtsCompletion {
    const f = newFault();
    f.type = EVENT_TYPE.F_BAD_ATS_TREQ;
    f.sid = sid;
    f.ssv = ssid !== undefined;
    f.ssid = ssid ?? 0;
    f.inputAddr = asked.addr;
    f.inputTag = asked.tag;
    f.rnw = !asked.write;
    f.ind = asked.exec;
    f.pnu = asked.priv;
    this.#events.report(f);
    return UR;
  }

  translated(access: TranslatedAccess): TranslatedResult {
    const where = "ats.translated";
    this.#advertised(where);
    if (access === null || typeof access !== "object") throw new HostError(`${where}: the access must be an object`);
    const sid = checkSid(where, access.sid);
    const { address } = access;
    if (typeof address !== "number" || !Number.isSafeInteger(address) || address < 0) {
      throw new HostError(`${where}: address ${String(address)} is not a non-negative safe integer`);
    }
    const write = flag(where, "write", access.write);
    const w = this.#regs.words;
    // IHI 0070 3.9.1.3: SMMUEN 0 aborts with F_TRANSL_FORBIDDEN.
    if (!this.#enabled()) return this.#forbidden(sid, address, write);
    if (CR0ACK.ATSCHK.get(w, W_CR0ACK) === 1) {
      const stream = this.#engine.streamConfig(sid);
      // A configuration error aborts (its event needs CR2.REC_CFG_ATS); Config abort aborts silently.
      if ("fault" in stream || stream.config === STE_CONFIG.ABORT) return { ok: false, fault: "ABORT", event: false };
      if (stream.eats === STE_EATS.ABORT) return this.#forbidden(sid, address, write);
      if (stream.eats === STE_EATS.SPLIT) {
        const pa = this.#engine.translatedIpa(stream, address, write ? ACCESS.WRITE : 0);
        if (pa >= 0) return { ok: true, pa };
        const f = this.#engine.fault;
        return { ok: false, fault: EVT_TYPE_NAMES[f.type] ?? `0x${f.type.toString(16)}`, event: f.recorded };
      }
    }
    // Passed through as a PA. Beyond the OAS it is aborted with no event, one of the two IMPLEMENTATION DEFINED
    // behaviours of IHI 0070 3.9.1.1.
    if (address >= 2 ** IDR5_OAS_BITS[IDR5.OAS.get(w, W_IDR5)]!) return { ok: false, fault: "ABORT", event: false };
    return { ok: true, pa: address };
  }

  /** Aborted, F_TRANSL_FORBIDDEN recorded (IHI 0070 7.3.8). */
  #forbidden(sid: number, address: number, write: boolean): TranslatedResult {
    const f = newFault();
    f.type = EVENT_TYPE.F_TRANSL_FORBIDDEN;
    f.sid = sid;
    f.inputAddr = address;
    f.rnw = !write;
    this.#events.report(f);
    return { ok: false, fault: "F_TRANSL_FORBIDDEN", event: true };
  }

  /** A request's address as the engine takes it (see Smmu.translate): [signed address, tag or NO_TAG]. */
  #address(where: string, address: unknown): [number, number] {
    if (typeof address === "number") {
      if (!Number.isSafeInteger(address)) throw new HostError(`${where}: address ${address} is not a safe integer`);
      return [address, NO_TAG];
    }
    if (typeof address !== "bigint" || !isVa(address)) {
      throw new HostError(`${where}: address ${String(address)} is not a number or a 64-bit bigint`);
    }
    return untag(address);
  }
}

/**
 * The permissions a Translation Completion grants (IHI 0070 13.7.1): `allow` is the translation's allow mask (bit =
 * normalized ACCESS flags), checked at the effective privilege (STE.PRIVCFG over the request's); STE.INSTCFG decides
 * how the request's Exe and the translation's X combine. Exe implies R; an execute-only page grants nothing unless
 * INSTCFG makes every read an instruction fetch.
 */
export function grant(
  allow: number,
  priv: boolean,
  exec: boolean,
  privcfg: number,
  instcfg: number,
): { read: boolean; write: boolean; exec: boolean } {
  const effPriv = privcfg === STE_PRIVCFG.PRIV || (privcfg !== STE_PRIVCFG.UNPRIV && priv);
  const p = effPriv ? ACCESS.PRIV : 0;
  const can = (a: number) => ((allow >> (p | a)) & 1) === 1;
  const r = can(0), x = can(ACCESS.EXEC), w = can(ACCESS.WRITE);
  if (instcfg === STE_INSTCFG.INSTR) return { read: x, write: w, exec: exec && x };
  if (instcfg === STE_INSTCFG.DATA) return { read: r, write: w, exec: exec && r };
  return { read: r, write: w, exec: exec && r && x };
}
